"""metadata_schema: one typed definition per client metadata key; client metadata as
jsonb in PostgreSQL (indexable, key order and duplicates not kept, as SPEC section 5 says)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metadata_schema",
        sa.Column("key", sa.String(length=255), primary_key=True),
        # The key's type in the export form, e.g. {"ty": "variant", "hint": "number"}
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in ("items", "folders"):
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN client_metadata TYPE jsonb USING client_metadata::jsonb"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("items", "folders"):
            op.execute(f"ALTER TABLE {table} ALTER COLUMN client_metadata TYPE json USING client_metadata::json")
    op.drop_table("metadata_schema")
