"""SQLite keeps synced_objects in its primary key's order (WITHOUT ROWID), so that a
sync reads a folder's rows as one range, not one row lookup per object (100,000 rows:
0.5 s against 0.2 s, docs/benchmarks.md). PostgreSQL is left as it is.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = "folder_id, url_key, url, version, sidecar, item_id, state"


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        """CREATE TABLE synced_objects_rebuilt (
            folder_id VARCHAR(36) NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
            url_key BIGINT NOT NULL,
            url TEXT NOT NULL,
            version TEXT NOT NULL,
            sidecar TEXT,
            item_id VARCHAR(36),
            state VARCHAR(16) NOT NULL,
            PRIMARY KEY (folder_id, url_key)
        )"""
        + ("" if with_rowid else " WITHOUT ROWID")
    )
    op.execute(f"INSERT INTO synced_objects_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM synced_objects")
    op.execute("DROP TABLE synced_objects")
    op.execute("ALTER TABLE synced_objects_rebuilt RENAME TO synced_objects")


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
