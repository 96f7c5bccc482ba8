"""items: the media metadata probing finds beyond the first columns

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("encoding", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("modality", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("rotation", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("media_extra", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        for column in ("media_extra", "rotation", "modality", "encoding"):
            batch.drop_column(column)
