"""job progress as a high-water mark and counters; rows only for failed units; a
smaller dedup index

Revision ID: 0002
Revises: 0001

A job's units are worked in order, one chunk per transaction, so the units before
``jobs.next_unit`` are finished and the counters beside it say how. Only failed units
keep a row (``unit_errors``), for their error and the action to take. Existing jobs
are converted: units not yet worked on (pending or cancelled) are those from the
first of them on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COUNTERS = ("created", "skipped", "upserted", "failed")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("next_unit", sa.Integer(), server_default="0", nullable=False))
        for counter in _COUNTERS:
            batch.add_column(sa.Column(counter, sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "unit_errors",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("unit_index", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("job_id", "unit_index"),
    )
    op.execute(
        "UPDATE jobs SET "
        "next_unit = COALESCE((SELECT MIN(u.unit_index) FROM job_units u WHERE u.job_id = jobs.id "
        "AND u.status IN ('pending', 'cancelled')), units_total), "
        "created = (SELECT COUNT(*) FROM job_units u WHERE u.job_id = jobs.id AND u.outcome = 'created'), "
        "skipped = (SELECT COUNT(*) FROM job_units u WHERE u.job_id = jobs.id AND u.outcome = 'skipped'), "
        "upserted = (SELECT COUNT(*) FROM job_units u WHERE u.job_id = jobs.id AND u.outcome = 'upserted'), "
        "failed = (SELECT COUNT(*) FROM job_units u WHERE u.job_id = jobs.id AND u.status = 'error')"
    )
    op.execute(
        "INSERT INTO unit_errors (job_id, unit_index, error, action) "
        "SELECT job_id, unit_index, COALESCE(error, ''), COALESCE(action, '') FROM job_units WHERE status = 'error'"
    )
    op.drop_table("job_units")
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_folder_url", sqlite_where=sa.text("parent_item_id IS NULL"),
                         postgresql_where=sa.text("parent_item_id IS NULL"))  # fmt: skip
        batch.create_index("ix_items_url_key", ["url_key"], sqlite_where=sa.text("parent_item_id IS NULL"),
                           postgresql_where=sa.text("parent_item_id IS NULL"))  # fmt: skip


def downgrade() -> None:
    # The per-unit rows of done units cannot be rebuilt faithfully (which of them were
    # skipped rather than created is only counted now), so this step is one way.
    raise NotImplementedError("revision 0002 cannot be downgraded: restore a backup of the catalog instead")
