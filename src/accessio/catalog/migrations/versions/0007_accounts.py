"""accounts: users, API tokens (hashes only), folder and integration grants, folder and
job owners; job leases (who works a job, until when); item descriptions; the integration uploads go to;
signed-upload placeholders; server settings (the URL-signing secret)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("password_hash", sa.Text),
        _when("created_at", nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _when("created_at", nullable=False),
        _when("expires_at"),
        _when("last_used_at"),
        _when("revoked_at"),
        sa.Index("ix_api_tokens_user", "user_id"),
    )
    op.create_table(
        "folder_grants",
        sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        _when("created_at", nullable=False),
        sa.Index("ix_folder_grants_user", "user_id"),
    )
    op.create_table(
        "integration_grants",
        sa.Column(
            "integration_id", sa.String(36), sa.ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        _when("created_at", nullable=False),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(36), primary_key=True),  # the placeholder item uuid handed to the client
        sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("item_type", sa.String(32), nullable=False),
        sa.Column("object_url", sa.Text, nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
    )
    op.create_table(
        "server_settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    # plain ADD COLUMN (a batch copy of these tables would trip their foreign keys in SQLite)
    op.add_column("folders", sa.Column("owner_id", sa.String(36)))
    op.create_index("ix_folders_owner", "folders", ["owner_id"])
    op.add_column("jobs", sa.Column("owner_id", sa.String(36)))
    # A running job is leased by the process working it (``host/pid/token``) and its
    # heartbeat keeps ``lease_expires_at`` ahead; a PENDING job whose lease ran out
    # was interrupted.
    op.add_column("jobs", sa.Column("lease_holder", sa.String(200)))
    op.add_column("jobs", _when("lease_expires_at"))
    op.add_column("jobs", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("items", sa.Column("description", sa.Text))  # set through the API (Encord's item description)
    op.add_column("integrations", sa.Column("upload_target", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("description")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("upload_target")
    with op.batch_alter_table("jobs") as batch:
        for column in ("attempts", "lease_expires_at", "lease_holder", "owner_id"):
            batch.drop_column(column)
    with op.batch_alter_table("folders") as batch:
        batch.drop_index("ix_folders_owner")
        batch.drop_column("owner_id")
    for table in ("server_settings", "uploads", "integration_grants", "folder_grants", "api_tokens", "users"):
        op.drop_table(table)
