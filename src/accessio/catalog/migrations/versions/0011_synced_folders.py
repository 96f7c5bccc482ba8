"""Cloud-synced folders: a folder's bucket prefix (folders.sync_*), what its syncs saw
(synced_objects), and the kind of a job (jobs.kind: register or sync) with a sync's
counters (jobs.sync_counts); at most one sync of a folder at a time (ux_jobs_active_sync).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("folders") as batch:
        batch.add_column(sa.Column("sync_integration_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("sync_prefix", sa.Text(), nullable=True))
        batch.add_column(sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="register"))
        batch.add_column(sa.Column("sync_counts", sa.JSON(), nullable=True))
    op.create_index(
        "ux_jobs_active_sync",
        "jobs",
        ["folder_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'sync' AND status = 'PENDING'"),
        postgresql_where=sa.text("kind = 'sync' AND status = 'PENDING'"),
    )
    op.create_table(
        "synced_objects",
        sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("url_key", sa.BigInteger(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("sidecar", sa.Text(), nullable=True),
        sa.Column("item_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("synced_objects")
    op.drop_index("ux_jobs_active_sync", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sync_counts")
        batch.drop_column("kind")
    with op.batch_alter_table("folders") as batch:
        batch.drop_column("synced_at")
        batch.drop_column("sync_prefix")
        batch.drop_column("sync_integration_id")
