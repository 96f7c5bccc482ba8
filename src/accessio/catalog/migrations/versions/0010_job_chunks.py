"""job_chunks and workers: registration jobs worked by Celery workers (``accessio worker``)

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_chunks",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("chunk_index", sa.Integer, primary_key=True),
        sa.Column("first_unit", sa.Integer, nullable=False),
        sa.Column("end_unit", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Index("ix_job_chunks_status", "status", "job_id"),
    )
    op.create_table(
        "workers",
        sa.Column("holder", sa.String(200), primary_key=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("queues", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chunks_done", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("job_chunks")
