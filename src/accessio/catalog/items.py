"""Items: registered objects and groups, with their children in order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from accessio.catalog.errors import NotFound
from accessio.catalog.schema import items

_LOOKUP_BATCH = 500

# Item JSON field names (SPEC section 8) for the columns that carry media metadata.
JSON_FIELDS: dict[str, str] = {
    "file_size": "fileSize",
    "mime_type": "mimeType",
    "width": "width",
    "height": "height",
    "duration": "duration",
    "fps": "fps",
    "frame_count": "frameCount",
    "num_pages": "numPages",
    "sample_rate": "sampleRate",
    "bit_depth": "bitDepth",
    "codec": "codec",
    "num_channels": "numChannels",
    "dicom_study_uid": "dicomStudyUid",
    "dicom_series_uid": "dicomSeriesUid",
    "dicom_instance_uid": "dicomInstanceUid",
    "etag": "etag",
}


def url_hash(url: str) -> str:
    """The dedup key of one object URL."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def group_hash(urls: Sequence[str]) -> str:
    """The dedup key of a group: its member URL list, in order."""
    return hashlib.sha256("\n".join(urls).encode("utf-8", "surrogatepass")).hexdigest()


def insert_rows(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert item rows; rows whose id exists already are left alone (a retried chunk writes nothing)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(postgresql.insert(items).on_conflict_do_nothing(index_elements=["id"]), rows)
    else:
        conn.execute(sqlite.insert(items).on_conflict_do_nothing(index_elements=["id"]), rows)


def existing(conn: sa.Connection, folder_id: str, hashes: Iterable[str]) -> dict[str, str]:
    """Top-level items of a folder by dedup key: ``{url_sha256: item_id}``."""
    found: dict[str, str] = {}
    wanted = list(dict.fromkeys(hashes))
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        batch = wanted[start : start + _LOOKUP_BATCH]
        query = sa.select(items.c.url_sha256, items.c.id).where(
            items.c.folder_id == folder_id,
            items.c.parent_item_id.is_(None),
            items.c.url_sha256.in_(batch),
        )
        for key, item_id in conn.execute(query):
            found.setdefault(key, item_id)
    return found


def replace_client_metadata(conn: sa.Connection, updates: list[dict[str, Any]]) -> None:
    """Replace (not merge) client metadata: ``[{"item_id", "client_metadata", "updated_at"}]``."""
    if updates:
        statement = (
            items.update()
            .where(items.c.id == sa.bindparam("item_id"))
            .values(client_metadata=sa.bindparam("client_metadata"), updated_at=sa.bindparam("updated_at"))
        )
        conn.execute(statement, updates)


def get(conn: sa.Connection, item_id: str) -> Any:
    row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
    if row is None:
        raise NotFound("item", item_id)
    return row


def in_folder(
    conn: sa.Connection, folder_id: str, *, item_type: str | None = None, limit: int = 100, after: str | None = None
) -> list[Any]:
    """Top-level items of a folder in name order (children of groups are not listed)."""
    query = sa.select(items).where(items.c.folder_id == folder_id, items.c.parent_item_id.is_(None))
    if item_type:
        query = query.where(items.c.item_type == item_type)
    if after:
        query = query.where(items.c.id > after)
    return list(conn.execute(query.order_by(items.c.name, items.c.id).limit(limit)))


def children(conn: sa.Connection, item_id: str) -> list[Any]:
    query = sa.select(items).where(items.c.parent_item_id == item_id).order_by(items.c.position)
    return list(conn.execute(query))


def count(conn: sa.Connection, folder_id: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(items)
    if folder_id:
        query = query.where(items.c.folder_id == folder_id)
    return int(conn.execute(query).scalar_one())


def item_json(row: Any, *, folder_path: str | None = None) -> dict[str, Any]:
    """An item as the API and ``--json`` show it (SPEC section 8 names)."""
    out: dict[str, Any] = {
        "uuid": row.id,
        "itemType": row.item_type,
        "name": row.name,
        "url": row.url,
        "parent": row.folder_id,
    }
    if folder_path is not None:
        out["folder"] = folder_path
    if row.parent_item_id:
        out["parentItem"] = row.parent_item_id
        out["position"] = row.position
    for column, name in JSON_FIELDS.items():
        out[name] = getattr(row, column)
    out["clientMetadata"] = row.client_metadata or {}
    out["isTombstone"] = bool(row.is_tombstone)
    out["jobId"] = row.job_id
    out["createdAt"] = row.created_at.isoformat() if row.created_at else None
    out["lastEditedAt"] = row.updated_at.isoformat() if row.updated_at else None
    return out
