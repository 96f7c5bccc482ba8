"""Embeddings: vectors under the metadata schema's embedding keys, one per item or per
video frame, and their per-key HNSW indexes in PostgreSQL.

Vectors travel as float32 bytes (little-endian) from the job to the writer; SQLite
stores those bytes, PostgreSQL a pgvector ``vector``. A row is never updated: a new
vector for the same (item, key, frame) deletes the old row and inserts a new one, so
an ANN index that labels vectors by row id never holds a stale vector under a live id.

>>> from_blob(to_blob([1.0, 0.5])).tolist()
[1.0, 0.5]
"""

from __future__ import annotations

import hashlib
import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accessio.catalog.metadata_schema import EmbeddingKey, MetadataSchema, Tombstone
from accessio.catalog.schema import embedding_deletions, embeddings, items, vector_indexes

HNSW_MAX_DIMENSIONS = 2000  # pgvector 0.6: larger keys are searched exactly (a sequential scan)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128  # 64 (pgvector's default) tops out at recall@10 0.95 on 1M x 512; 128 reaches 0.99
_INDEX_PREFIX = "ix_embeddings_hnsw_"

Row = tuple[str, str, int | None, bytes]  # (item_id, key, frame or None, float32 bytes)
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]

# numpy is imported where vectors are made: a registration without embeddings (most)
# starts without it (a tenth of a second).


def to_blob(values: Sequence[float] | Vector) -> bytes:
    """A vector as stored in SQLite and carried to the writer: float32, little-endian."""
    import numpy as np  # noqa: PLC0415 - see Vector

    return np.asarray(values, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> Vector:
    import numpy as np  # noqa: PLC0415 - see Vector

    return np.frombuffer(blob, dtype="<f4")


def pg_vector_literal(vector: Vector) -> str:
    """pgvector's text form; ``repr`` of a float32 widened to float64 reads back exactly."""
    import numpy as np  # noqa: PLC0415 - see Vector

    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).tolist())) + "]"


def _pg_binary(data: bytes) -> Vector:
    """A vector from ``vector_send``: dimensions (int16), unused (int16), big-endian float32s."""
    import numpy as np  # noqa: PLC0415 - see Vector

    return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


def stored_vector(conn: sa.Connection) -> sa.ColumnElement[Any]:
    """The vector column as a select returns it to :func:`vector_of_stored`."""
    if conn.dialect.name == "postgresql":
        return sa.func.vector_send(embeddings.c.vector, type_=sa.LargeBinary)
    return embeddings.c.vector


def vector_of_stored(conn: sa.Connection, value: bytes) -> Vector:
    return _pg_binary(value) if conn.dialect.name == "postgresql" else from_blob(value)


def insert(conn: sa.Connection, rows: Sequence[Row]) -> None:
    """Insert embedding rows (their items exist): ``executemany`` in SQLite, ``COPY`` in PostgreSQL."""
    if not rows:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "sqlite":
        raw.executemany("INSERT INTO embeddings (item_id, key, frame, vector) VALUES (?, ?, ?, ?)", rows)
        return
    statement = "COPY embeddings (item_id, key, frame, vector) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(_BINARY_HEADER)
        pending: list[bytes] = []
        for item_id, key, frame, blob in rows:
            pending.append(_binary_row(item_id, key, frame, blob))
            if len(pending) >= 1000:
                copy.write(b"".join(pending))
                pending = []
        pending.append(_BINARY_TRAILER)
        copy.write(b"".join(pending))


# PostgreSQL's binary COPY: a header, per row the field count and each field as its
# length and bytes (-1 for NULL), a trailer. A vector is pgvector's ``vector_recv``
# form: dimensions (int16), unused (int16), float32s, all big-endian. Binary skips
# formatting 512 floats as text per row: several times faster than text COPY.
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_BINARY_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)


def _binary_row(item_id: str, key: str, frame: int | None, blob: bytes) -> bytes:
    import numpy as np  # noqa: PLC0415 - see Vector

    item, name = item_id.encode(), key.encode()
    dimensions = len(blob) // 4
    return b"".join(
        (
            struct.pack("!hi", 4, len(item)),
            item,
            struct.pack("!i", len(name)),
            name,
            _NULL if frame is None else struct.pack("!ii", 4, frame),
            struct.pack("!ihh", 4 + len(blob), dimensions, 0),
            np.frombuffer(blob, dtype="<f4").astype(">f4").tobytes(),
        )
    )


def any_stored(conn: sa.Connection) -> bool:
    """Whether the catalog holds any vector (an upsert of a catalog without any deletes none)."""
    return conn.execute(sa.select(embeddings.c.id).limit(1)).first() is not None


def delete_of_items(conn: sa.Connection, item_ids: Iterable[str]) -> int:
    """Delete every embedding of these items (an upsert replaces them all)."""
    ids = list(dict.fromkeys(item_ids))
    deleted = 0
    for start in range(0, len(ids), 500):
        result = conn.execute(embeddings.delete().where(embeddings.c.item_id.in_(ids[start : start + 500])))
        deleted += result.rowcount
    return deleted


def delete_keys(conn: sa.Connection, item_id: str, keys: Sequence[str], *, frames: bool = False) -> int:
    """Delete an item's own vectors under ``keys`` (and all its frames' vectors when ``frames``)."""
    chosen = []
    if keys:
        chosen.append(sa.and_(embeddings.c.key.in_(list(keys)), embeddings.c.frame.is_(None)))
    if frames:
        chosen.append(embeddings.c.frame.is_not(None))
    if not chosen:
        return 0
    result = conn.execute(embeddings.delete().where(embeddings.c.item_id == item_id, sa.or_(*chosen)))
    return int(result.rowcount)


def replace(conn: sa.Connection, rows: Sequence[Row]) -> int:
    """Insert rows, each replacing the vector its (item, key, frame) had; how many it replaced."""
    replaced = 0
    by_key: dict[tuple[str, int | None], list[str]] = defaultdict(list)
    for item_id, key, frame, _ in rows:
        by_key[key, frame].append(item_id)
    for (key, frame), item_ids in by_key.items():
        same_frame = embeddings.c.frame.is_(None) if frame is None else embeddings.c.frame == frame
        for start in range(0, len(item_ids), 500):
            chosen = embeddings.c.item_id.in_(item_ids[start : start + 500])
            result = conn.execute(embeddings.delete().where(embeddings.c.key == key, same_frame, chosen))
            replaced += result.rowcount
    insert(conn, rows)
    return replaced


@dataclass(frozen=True)
class Stored:
    """One stored embedding, as searches return it."""

    id: int
    item_id: str
    frame: int | None


def vector_of(conn: sa.Connection, item_id: str, key: str, frame: int | None) -> tuple[Stored, Vector] | None:
    """The vector of an item (``frame`` None) or of one of its frames under ``key``."""
    same_frame = embeddings.c.frame.is_(None) if frame is None else embeddings.c.frame == frame
    query = sa.select(embeddings.c.id, stored_vector(conn)).where(
        embeddings.c.item_id == item_id, embeddings.c.key == key, same_frame
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return Stored(row[0], item_id, frame), vector_of_stored(conn, row[1])


def frames_of(conn: sa.Connection, item_id: str, key: str) -> list[int | None]:
    """The frames (``None`` for the item's own) an item has embeddings for under ``key``."""
    query = sa.select(embeddings.c.frame).where(embeddings.c.item_id == item_id, embeddings.c.key == key)
    return sorted(conn.execute(query).scalars(), key=lambda frame: -1 if frame is None else frame)


def summary(conn: sa.Connection, item_id: str) -> dict[str, dict[str, Any]]:
    """What an item has, per key: ``{"clip": {"size": 512, "frames": [0, 25]}}`` (``frames``
    only when there are frame embeddings; ``item`` true when the item has its own)."""
    size = (
        sa.func.vector_dims(embeddings.c.vector)
        if conn.dialect.name == "postgresql"
        else sa.func.length(embeddings.c.vector) / 4
    )
    query = (
        sa.select(embeddings.c.key, embeddings.c.frame, size)
        .where(embeddings.c.item_id == item_id)
        .order_by(embeddings.c.key, embeddings.c.frame)
    )
    out: dict[str, dict[str, Any]] = {}
    for key, frame, dimensions in conn.execute(query):
        entry = out.setdefault(key, {"size": int(dimensions)})
        if frame is None:
            entry["item"] = True
        else:
            entry.setdefault("frames", []).append(frame)
    return out


def count(conn: sa.Connection, key: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).where(embeddings.c.key == key)).scalar_one())


def live_condition() -> sa.ColumnElement[bool]:
    """Embeddings whose item is not a tombstone."""
    return sa.exists().where(items.c.id == embeddings.c.item_id, items.c.is_tombstone.is_(sa.false()))


# PostgreSQL HNSW indexes, one per embedding key


def hnsw_index_name(key: str, size: int) -> str:
    """The name of a key's HNSW index: the key's hash (keys hold spaces and dots) and its size."""
    return f"{_INDEX_PREFIX}{hashlib.sha256(key.encode()).hexdigest()[:16]}_{size}"


def key_literal(key: str) -> str:
    """A key as an SQL string literal (index predicates and the searches that match them)."""
    return "'" + key.replace("'", "''") + "'"


def _create_hnsw(conn: sa.Connection, key: str, size: int) -> None:
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(key, size)} ON embeddings "
        f"USING hnsw ((vector::vector({size})) vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE key = {key_literal(key)}"
    )


@dataclass(frozen=True)
class IndexSync:
    """What :func:`sync_vector_indexes` did."""

    created: tuple[str, ...]
    dropped: tuple[str, ...]
    vectors_removed: int


def sync_vector_indexes(conn: sa.Connection, schema: MetadataSchema) -> IndexSync:
    """Bring vector storage in line with the schema (call it after the schema changes).

    PostgreSQL: one HNSW index per live embedding key of at most 2,000 numbers is
    created (keys larger are searched exactly), indexes of keys gone are dropped.
    Both backends: vectors under a key that is no longer an embedding key (hard
    deleted, or given another type), or of a size the key no longer has, are deleted;
    a soft-deleted key keeps its vectors, for a restore.

    >>> sync_vector_indexes(conn, schema_store.load(conn))  # doctest: +SKIP
    IndexSync(created=('ix_embeddings_hnsw_0b4f..._512',), dropped=(), vectors_removed=0)
    """
    sizes: dict[str, int] = {}
    for key, key_type in schema.keys.items():
        kept = key_type.previous if isinstance(key_type, Tombstone) else key_type
        if isinstance(kept, EmbeddingKey):
            sizes[key] = kept.size
    removed = _remove_stale_vectors(conn, sizes)
    if conn.dialect.name != "postgresql":
        return IndexSync((), (), removed)
    live = schema.embedding_keys()
    wanted = {hnsw_index_name(k, n): (k, n) for k, n in live.items() if n <= HNSW_MAX_DIMENSIONS}
    present = set(
        conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings' AND schemaname = current_schema() "
            "AND indexname LIKE %(p)s",
            {"p": _INDEX_PREFIX + "%"},
        ).scalars()
    )
    dropped = sorted(present - set(wanted))
    for name in dropped:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    created = sorted(set(wanted) - present)
    for name in created:
        _create_hnsw(conn, *wanted[name])
    return IndexSync(tuple(created), tuple(dropped), removed)


def _remove_stale_vectors(conn: sa.Connection, sizes: dict[str, int]) -> int:
    stored_keys = list(conn.execute(sa.select(embeddings.c.key).distinct()).scalars())
    removed = 0
    for key in stored_keys:
        size = sizes.get(key)
        stale: sa.ColumnElement[bool] = embeddings.c.key == key
        if size is not None:
            dimensions = (
                sa.func.vector_dims(embeddings.c.vector)
                if conn.dialect.name == "postgresql"
                else sa.func.length(embeddings.c.vector)
            )
            stale = sa.and_(stale, dimensions != (size if conn.dialect.name == "postgresql" else 4 * size))
        removed_here = conn.execute(embeddings.delete().where(stale)).rowcount
        if removed_here and conn.dialect.name == "sqlite" and size is None:
            forget_key(conn, key)
        removed += removed_here
    return removed


def forget_key(conn: sa.Connection, key: str) -> None:
    """SQLite: a key whose vectors all went: its deletion log goes too, and any ANN index
    state of it is marked behind (``pruned_upto``), so that processes holding one reload."""
    last = conn.execute(sa.select(sa.func.max(embedding_deletions.c.seq))).scalar_one() or 0
    conn.execute(embedding_deletions.delete().where(embedding_deletions.c.key == key))
    now = datetime.now(UTC)
    marked = conn.execute(
        vector_indexes.update().where(vector_indexes.c.key == key).values(token=None, pruned_upto=last, updated_at=now)
    ).rowcount
    if not marked:  # a process may hold the key without a file: the mark must exist for it to see
        conn.execute(vector_indexes.insert().values(key=key, ndim=0, pruned_upto=last, updated_at=now))
