"""initial catalog

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "folders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("client_metadata", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["folders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    op.create_table(
        "integrations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("access_mode", sa.String(length=32), nullable=False),
        sa.Column("root", sa.Text(), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("credentials_ref", sa.Text(), nullable=True),
        sa.Column("allow_private_network", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("sign_ttl_s", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("folder_id", sa.String(length=36), nullable=False),
        sa.Column("parent_item_id", sa.String(length=36), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("item_type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("url_key", sa.BigInteger(), nullable=True),
        sa.Column("integration_id", sa.String(length=36), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("mime_type", sa.String(length=255), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("frame_count", sa.Integer(), nullable=True),
        sa.Column("num_pages", sa.Integer(), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("bit_depth", sa.Integer(), nullable=True),
        sa.Column("codec", sa.String(length=64), nullable=True),
        sa.Column("num_channels", sa.Integer(), nullable=True),
        sa.Column("dicom_study_uid", sa.String(length=128), nullable=True),
        sa.Column("dicom_series_uid", sa.String(length=128), nullable=True),
        sa.Column("dicom_instance_uid", sa.String(length=128), nullable=True),
        sa.Column("etag", sa.String(length=255), nullable=True),
        sa.Column("client_metadata", sa.JSON(), nullable=True),
        sa.Column("is_tombstone", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["folders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_items_folder_url",
            ["folder_id", "url_key"],
            unique=False,
            sqlite_where=sa.text("parent_item_id IS NULL"),
            postgresql_where=sa.text("parent_item_id IS NULL"),
        )
        batch_op.create_index(
            "ix_items_parent",
            ["parent_item_id", "position"],
            unique=False,
            sqlite_where=sa.text("parent_item_id IS NOT NULL"),
            postgresql_where=sa.text("parent_item_id IS NOT NULL"),
        )

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("folder_id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("ignore_errors", sa.Boolean(), nullable=False),
        sa.Column("skip_duplicate_urls", sa.Boolean(), nullable=False),
        sa.Column("upsert_metadata", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("units_total", sa.Integer(), nullable=False),
        sa.Column("units", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["folders.id"],
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "job_units",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("unit_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("item_id", sa.String(length=36), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.PrimaryKeyConstraint("job_id", "unit_index"),
    )


def downgrade() -> None:

    op.drop_table("job_units")
    op.drop_table("jobs")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_items_parent",
            sqlite_where=sa.text("parent_item_id IS NOT NULL"),
            postgresql_where=sa.text("parent_item_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_items_folder_url",
            sqlite_where=sa.text("parent_item_id IS NULL"),
            postgresql_where=sa.text("parent_item_id IS NULL"),
        )

    op.drop_table("items")
    op.drop_table("integrations")
    op.drop_table("folders")
