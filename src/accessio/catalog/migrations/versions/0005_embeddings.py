"""embeddings: one vector per (item, key, frame); in SQLite a log of deleted vectors
and the state of the ANN index files kept beside the catalog

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# SQLite: every deleted vector is logged (cascades from items included), so that an
# in-process ANN index, whichever process keeps it, can drop it without a rebuild.
_SQLITE_TRIGGER = """
CREATE TRIGGER embeddings_deleted AFTER DELETE ON embeddings
BEGIN
    INSERT INTO embedding_deletions (embedding_id, key) VALUES (old.id, old.key);
END
"""


class _PgVector(sa.types.UserDefinedType[Any]):
    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "vector"


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    # A dimensionless pgvector column: each key has its own size, and its HNSW index is a
    # partial expression index on ``vector::vector(size)`` (see accessio.catalog.embeddings).
    vector_type: sa.types.TypeEngine[Any] = _PgVector() if postgresql else sa.LargeBinary()
    op.create_table(
        "embeddings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(length=36), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=True),  # NULL: the item's own embedding
        sa.Column("vector", vector_type, nullable=False),
        sqlite_autoincrement=True,  # ids are never reused: the ANN index labels vectors by id
    )
    op.create_index("ux_embeddings_item_frame", "embeddings", ["item_id", "key", "frame"], unique=True)
    op.create_index(
        "ux_embeddings_item",
        "embeddings",
        ["item_id", "key"],
        unique=True,
        sqlite_where=sa.text("frame IS NULL"),
        postgresql_where=sa.text("frame IS NULL"),
    )
    op.create_index("ix_embeddings_key", "embeddings", ["key", "id"])
    op.create_table(
        "embedding_deletions",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("embedding_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_embedding_deletions_key", "embedding_deletions", ["key", "seq"])
    op.create_table(
        "vector_indexes",
        sa.Column("key", sa.String(length=255), primary_key=True),
        sa.Column("ndim", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("added_upto", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("deleted_upto", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("pruned_upto", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    if not postgresql:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS embeddings_deleted")
    op.drop_table("vector_indexes")
    op.drop_table("embedding_deletions")
    op.drop_table("embeddings")
