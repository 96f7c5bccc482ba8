"""Bulk writes on each backend's fast path: raw ``executemany`` in one transaction in
SQLite; ``COPY`` into a staging table, then ``INSERT ... ON CONFLICT`` in PostgreSQL.

Rows are tuples in :data:`ITEM_COLUMNS` order, already in database form (timestamps
as UTC, client metadata as JSON text), so no per-value type processing is left.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

ITEM_COLUMNS = (
    "id", "folder_id", "parent_item_id", "position", "item_type", "name", "url", "url_key", "integration_id",
    "file_size", "mime_type", "width", "height", "duration", "fps", "frame_count", "num_pages", "sample_rate",
    "bit_depth", "codec", "num_channels", "dicom_study_uid", "dicom_series_uid", "dicom_instance_uid", "etag",
    "encoding", "modality", "rotation", "media_extra",
    "client_metadata", "is_tombstone", "job_id", "created_at", "updated_at",
)  # fmt: skip
_SQLITE_ERRORS = "INSERT INTO unit_errors (job_id, unit_index, error, action) VALUES (?, ?, ?, ?)"


def db_timestamp(dialect: str, moment: datetime) -> Any:
    """A timestamp as the backend stores it (SQLite: UTC text, the form SQLAlchemy reads back)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else utc


def _used_columns(rows: list[tuple[Any, ...]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The columns that hold a value in some row, and the rows cut down to them.

    A chunk of images leaves most media columns empty: binding 16 values per row
    instead of 34 halves the time SQLite spends on an ``executemany`` (measured), and
    a ``COPY`` carries less text. Leaving a column out stores NULL, as binding ``None``
    would: no item column that can be NULL has a default.
    """
    keep = [i for i, values in enumerate(zip(*rows, strict=True)) if values.count(None) < len(values)]
    if len(keep) == len(ITEM_COLUMNS):
        return list(ITEM_COLUMNS), rows
    pick = itemgetter(*keep)
    picked = list(map(pick, rows)) if len(keep) > 1 else [(value,) for value in map(pick, rows)]
    return [ITEM_COLUMNS[i] for i in keep], picked


def insert_items(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert item rows; a row whose id exists is left alone (a retried chunk writes nothing)."""
    if not rows:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    columns, rows = _used_columns(rows)
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO items ({names}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING", rows)
        return
    _through_stage(
        raw,
        "CREATE TEMP TABLE IF NOT EXISTS items_stage (LIKE items INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        f"COPY items_stage ({names}) FROM STDIN",
        rows,
        f"INSERT INTO items ({names}) SELECT {names} FROM items_stage ON CONFLICT (id) DO NOTHING",
        "items_stage",
    )


def record_errors(conn: sa.Connection, job_id: str, errors: list[tuple[int, str, str]]) -> None:
    """Failed units of a chunk: tuples ``(unit_index, error, action)``."""
    if not errors:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    rows = [(job_id, index, error, action) for index, error, action in errors]
    if conn.dialect.name == "sqlite":
        raw.executemany(_SQLITE_ERRORS, rows)
        return
    with raw.cursor() as cursor, cursor.copy("COPY unit_errors (job_id, unit_index, error, action) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _through_stage(raw: Any, create: str, copy_in: str, rows: list[tuple[Any, ...]], apply: str, stage: str) -> None:
    """PostgreSQL: COPY rows into a temporary staging table, then apply them in one statement."""
    with raw.cursor() as cursor:
        cursor.execute(create)
        with cursor.copy(copy_in) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(apply)
        cursor.execute(f"DELETE FROM {stage}")  # the next chunk of the same transaction starts empty
