"""integrations.write_prefix (where image sequences' videos are written) and
jobs.sequence_fps (the frame rate a job encodes its image sequences at)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("write_prefix", sa.Text(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sequence_fps", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sequence_fps")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("write_prefix")
