"""Bulk writes on each backend's fast path: raw ``executemany`` in one transaction in
SQLite; ``COPY`` into a staging table, then ``INSERT ... ON CONFLICT`` in PostgreSQL.

Rows are tuples in :data:`ITEM_COLUMNS` order, already in database form (timestamps
as UTC, client metadata as JSON text), so no per-value type processing is left.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

ITEM_COLUMNS = (
    "id", "folder_id", "parent_item_id", "position", "item_type", "name", "url", "url_key", "integration_id",
    "file_size", "mime_type", "width", "height", "duration", "fps", "frame_count", "num_pages", "sample_rate",
    "bit_depth", "codec", "num_channels", "dicom_study_uid", "dicom_series_uid", "dicom_instance_uid", "etag",
    "client_metadata", "is_tombstone", "job_id", "created_at", "updated_at",
)  # fmt: skip
_COLUMN_LIST = ", ".join(ITEM_COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO items ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(ITEM_COLUMNS))}) ON CONFLICT (id) DO NOTHING"
)
_SQLITE_RESULTS = (
    "UPDATE job_units SET status = ?, outcome = ?, item_id = ?, error = ?, action = ? "
    "WHERE job_id = ? AND unit_index = ?"
)


def db_timestamp(dialect: str, moment: datetime) -> Any:
    """A timestamp as the backend stores it (SQLite: UTC text, the form SQLAlchemy reads back)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else utc


def insert_items(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert item rows; a row whose id exists is left alone (a retried chunk writes nothing)."""
    if not rows:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "sqlite":
        raw.executemany(_SQLITE_INSERT, rows)
        return
    _through_stage(
        raw,
        "CREATE TEMP TABLE IF NOT EXISTS items_stage (LIKE items INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        f"COPY items_stage ({_COLUMN_LIST}) FROM STDIN",
        rows,
        f"INSERT INTO items ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM items_stage ON CONFLICT (id) DO NOTHING",
        "items_stage",
    )


def record_created(conn: sa.Connection, job_id: str, first: int, last: int) -> None:
    """Mark the chunk's other units done and created, in one statement, after
    :func:`record_results` recorded the units that fared otherwise. A unit cancelled
    while its chunk was in flight was registered all the same, so it counts as done.
    The item id of a created unit is derived from its position, so none is stored."""
    conn.execute(
        sa.text(
            "UPDATE job_units SET status = 'done', outcome = 'created' WHERE job_id = :job "
            "AND unit_index BETWEEN :first AND :last AND status IN ('pending', 'cancelled') AND outcome IS NULL"
        ),
        {"job": job_id, "first": first, "last": last},
    )


def record_results(conn: sa.Connection, job_id: str, results: list[tuple[Any, ...]]) -> None:
    """What became of units: tuples ``(unit_index, status, outcome, item_id, error, action)``."""
    if not results:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    params = [(status, outcome, item_id, error, action, job_id, index)
              for index, status, outcome, item_id, error, action in results]  # fmt: skip
    if conn.dialect.name == "sqlite":
        raw.executemany(_SQLITE_RESULTS, params)
        return
    _through_stage(
        raw,
        "CREATE TEMP TABLE IF NOT EXISTS unit_results (status text, outcome text, item_id text, error text, "
        "action text, job_id text, unit_index integer) ON COMMIT DELETE ROWS",
        "COPY unit_results FROM STDIN",
        params,
        "UPDATE job_units AS u SET status = r.status, outcome = r.outcome, item_id = r.item_id, "
        "error = r.error, action = r.action FROM unit_results AS r "
        "WHERE u.job_id = r.job_id AND u.unit_index = r.unit_index",
        "unit_results",
    )


def _through_stage(raw: Any, create: str, copy_in: str, rows: list[tuple[Any, ...]], apply: str, stage: str) -> None:
    """PostgreSQL: COPY rows into a temporary staging table, then apply them in one statement."""
    with raw.cursor() as cursor:
        cursor.execute(create)
        with cursor.copy(copy_in) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(apply)
        cursor.execute(f"DELETE FROM {stage}")  # the next chunk of the same transaction starts empty
