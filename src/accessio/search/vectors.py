"""Similarity search: the items (or video frames) nearest an item or a vector under an
embedding key, optionally among the items a filter matches.

Distance is cosine distance, ``1 - cos(angle)``: 0 for the same direction, 1 for
orthogonal, 2 for opposite (what CLIP-like embeddings are compared by). Every
search returns distances computed from the stored float32 vectors, so an exact and
an approximate search agree on the distance of every vector both return.

- PostgreSQL: pgvector, ``ORDER BY vector::vector(N) <=> query`` on the key's HNSW
  index (``hnsw.ef_search`` 200, 1000 with a filter); keys of more than 2,000 numbers
  have no index and are searched exactly.
- SQLite: :mod:`accessio.search.ann` (exact below 20,000 vectors, else usearch HNSW).

With a filter, the approximate search over-fetches in proportion to how few vectors
the filter keeps and keeps those that match; when that would take more than 4,096
candidates, or finds fewer than ``k``, the filtered vectors are searched exactly.

>>> search = VectorSearch(engine)  # doctest: +SKIP
>>> search.similar("clip", item_id="6f1c...", k=5)  # doctest: +SKIP
[Hit(item_id='9a2e...', frame=None, distance=0.0132), ...]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from accessio.catalog import embeddings as embedding_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.embeddings import HNSW_MAX_DIMENSIONS, IndexSync, pg_vector_literal, sync_vector_indexes
from accessio.catalog.metadata_schema import EmbeddingKey, Tombstone
from accessio.catalog.schema import embeddings, items
from accessio.errors import AccessioError
from accessio.search.ann import ANN_AT, Labels, VectorIndexes
from accessio.search.filter_sql import compile_filter
from accessio.search.filter_syntax import parse_filter

K_MAX = 1000
OVERFETCH_MAX = 4096  # candidates an approximate filtered search may take before searching exactly
PG_EF_SEARCH = 200  # recall@10 0.99 at 1M x 512, ~6 ms (100: 0.96; bench/search_vectors.py); at most 1000

__all__ = ["Hit", "IndexSync", "SimilarityError", "VectorSearch", "sync_vector_indexes"]


class SimilarityError(AccessioError):
    """A similarity search that cannot run: a key that is not an embedding key, an item
    without a vector under it, a query vector of the wrong size."""

    status = 400
    code = "similarity"


@dataclass(frozen=True)
class Hit:
    """One result: an item, or one frame of a video item, and its cosine distance."""

    item_id: str
    frame: int | None
    distance: float


Query = npt.NDArray[np.float64]


class _SizedVector(sa.types.UserDefinedType[Any]):
    cache_ok = True

    def __init__(self, size: int) -> None:
        self.size = size

    def get_col_spec(self, **kw: Any) -> str:
        return f"vector({self.size})"


class VectorSearch:
    """Similarity searches on one catalog (holds SQLite's in-process indexes)."""

    def __init__(self, engine: sa.Engine, *, ann_at: int = ANN_AT) -> None:
        self._engine = engine
        self._indexes = VectorIndexes(engine, ann_at=ann_at) if engine.dialect.name == "sqlite" else None

    def similar(
        self,
        key: str,
        *,
        item_id: str | None = None,
        frame: int | None = None,
        vector: Sequence[float] | npt.NDArray[Any] | None = None,
        k: int = 10,
        where: str | sa.ColumnElement[bool] | None = None,
        exact: bool = False,
    ) -> list[Hit]:
        """The ``k`` nearest vectors under ``key``, nearest first: to the vector of
        ``item_id`` (its own, or its ``frame``'s), whose vectors are left out of the
        results, or to ``vector``. ``where`` is a filter (``docs/filters.md``) or a
        condition on ``items``."""
        if (item_id is None) == (vector is None):
            raise SimilarityError("give either an item or a vector to search near, not both or neither")
        if not 1 <= k <= K_MAX:
            raise SimilarityError(f"k must be from 1 to {K_MAX}, not {k}")
        with self._engine.connect() as conn:
            size = _size_of(conn, key)
            if isinstance(where, str):
                schema = schema_store.load(conn)
                where = compile_filter(parse_filter(where), dialect=conn.dialect.name, schema=schema)
            exclude: str | None = None
            if item_id is not None:
                query = _vector_of_item(conn, key, item_id, frame)
                exclude = item_id
            else:
                query = _query_vector(vector, size)
            if self._indexes is None:
                conn.rollback()
                return _pg_similar(conn, key, size, query, k, where, exclude, exact)
            return self._sqlite_similar(conn, key, size, query, k, where, exclude, exact)

    def _sqlite_similar(
        self,
        conn: sa.Connection,
        key: str,
        size: int,
        query: Query,
        k: int,
        where: sa.ColumnElement[bool] | None,
        exclude: str | None,
        exact: bool,
    ) -> list[Hit]:
        assert self._indexes is not None
        unit = query / np.linalg.norm(query)
        allowed = _allowed(conn, key, where, exclude) if where is not None else None
        excluded = len(embedding_store.frames_of(conn, exclude, key)) if exclude is not None else 0
        want = 2 * (k + excluded) + 10  # re-ranked from the catalog: room for tombstones and ties
        with self._indexes.lock(key):
            held = self._indexes.caught_up(conn, key, size)
            if held.graph is None:
                return _reranked(conn, held.exact_candidates(unit, want, allowed), query, k, exclude)
            if allowed is None:
                count = want
                while True:
                    if exact:
                        found = held.graph.search(unit.astype(np.float32), min(count, len(held.graph)), exact=True)
                        candidates = np.asarray(found.keys, np.int64)
                    else:
                        candidates = held.graph_candidates(unit, count)
                    hits = _reranked(conn, candidates, query, k, exclude)
                    if len(hits) >= k or count >= len(held.graph):
                        return hits
                    count *= 4
            if not len(allowed):
                return []
            count = math.ceil(want * len(held.graph) / len(allowed))
            if not exact and count <= OVERFETCH_MAX:
                candidates = held.graph_candidates(unit, count)
                hits = _reranked(conn, candidates[np.isin(candidates, allowed)], query, k, exclude)
                if len(hits) >= min(k, len(allowed)):
                    return hits
            return _reranked(conn, held.exact_graph_candidates(unit, want, allowed), query, k, exclude)


def _size_of(conn: sa.Connection, key: str) -> int:
    schema = schema_store.load(conn)
    key_type = schema.keys.get(key)
    if isinstance(key_type, EmbeddingKey):
        return key_type.size
    if key_type is None:
        known = ", ".join(sorted(schema.embedding_keys())) or "none"
        raise SimilarityError(f"{key!r} is not a key of the metadata schema (embedding keys: {known})")
    if isinstance(key_type, Tombstone):
        raise SimilarityError(f"key {key!r} is deleted from the metadata schema")
    raise SimilarityError(f"key {key!r} is not an embedding key of the metadata schema")


def _vector_of_item(conn: sa.Connection, key: str, item_id: str, frame: int | None) -> Query:
    found = embedding_store.vector_of(conn, item_id, key, frame)
    if found is not None:
        return found[1].astype(np.float64)
    frames = embedding_store.frames_of(conn, item_id, key)
    what = f"item {item_id}" + ("" if frame is None else f" has no frame {frame} embedding under key {key!r};")
    if frame is None:
        what += f" has no embedding of its own under key {key!r};"
    if not frames:
        raise SimilarityError(f"{what} it has no embeddings under that key")
    listed = ", ".join("the item's own" if f is None else str(f) for f in frames[:10])
    raise SimilarityError(f"{what} it has: {listed}" + (" ..." if len(frames) > 10 else ""))


def _query_vector(vector: Sequence[float] | npt.NDArray[Any] | None, size: int) -> Query:
    try:
        query = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SimilarityError("the query vector must be a list of numbers") from exc
    if query.ndim != 1 or len(query) != size:
        raise SimilarityError(f"the query vector has {query.size:,} numbers; the key's embeddings have {size:,}")
    if not np.all(np.isfinite(query)):
        raise SimilarityError("the query vector holds a number that is not finite")
    if not np.any(query):
        raise SimilarityError("the query vector is all zeros: it has no direction to compare by")
    return query


def _allowed(conn: sa.Connection, key: str, where: sa.ColumnElement[bool], exclude: str | None) -> Labels:
    """Row ids under ``key`` of the live items ``where`` keeps."""
    query = (
        sa.select(embeddings.c.id)
        .join(items, items.c.id == embeddings.c.item_id)
        .where(embeddings.c.key == key, items.c.is_tombstone.is_(sa.false()), where)
    )
    if exclude is not None:
        query = query.where(embeddings.c.item_id != exclude)
    return np.sort(np.fromiter(conn.execute(query).scalars(), dtype=np.int64))


def _reranked(conn: sa.Connection, candidates: Labels, query: Query, k: int, exclude: str | None) -> list[Hit]:
    """The ``k`` nearest of ``candidates`` by their stored float32 vectors (live items only)."""
    ids = [int(label) for label in candidates]
    rows: list[Any] = []
    for start in range(0, len(ids), 900):
        statement = (
            sa.select(embeddings.c.id, embeddings.c.item_id, embeddings.c.frame, embeddings.c.vector)
            .join(items, items.c.id == embeddings.c.item_id)
            .where(embeddings.c.id.in_(ids[start : start + 900]), items.c.is_tombstone.is_(sa.false()))
        )
        rows.extend(conn.execute(statement))
    if exclude is not None:
        rows = [row for row in rows if row.item_id != exclude]
    if not rows:
        return []
    matrix = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4").reshape(len(rows), -1)
    distances = cosine_distances(matrix, query)
    order = sorted(range(len(rows)), key=lambda i: (distances[i], rows[i].id))[:k]
    return [Hit(rows[i].item_id, rows[i].frame, float(distances[i])) for i in order]


def cosine_distances(matrix: npt.NDArray[Any], query: Query) -> npt.NDArray[np.float64]:
    """``1 - cos`` between each row and the query, in float64 (how every search ranks)."""
    rows = matrix.astype(np.float64)
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(query)
    norms[norms == 0] = 1.0
    distances: npt.NDArray[np.float64] = 1.0 - (rows @ query) / norms
    return distances


def _pg_similar(
    conn: sa.Connection,
    key: str,
    size: int,
    query: Query,
    k: int,
    where: sa.ColumnElement[bool] | None,
    exclude: str | None,
    exact: bool,
) -> list[Hit]:
    """PostgreSQL: the key's HNSW index, then an exact scan when it found too few."""
    sized = _SizedVector(size)
    target = sa.cast(sa.bindparam("query", pg_vector_literal(query.astype(np.float32)), sa.Text), sized)
    distance = sa.cast(embeddings.c.vector, sized).op("<=>", return_type=sa.Float)(target)
    # the key as a literal: the planner matches it against the partial index's predicate
    conditions = [
        embeddings.c.key == sa.bindparam("key", key, literal_execute=True),
        items.c.is_tombstone.is_(sa.false()),
    ]
    if where is not None:
        conditions.append(where)
    if exclude is not None:
        conditions.append(embeddings.c.item_id != exclude)
    statement = (
        sa.select(embeddings.c.id, embeddings.c.item_id, embeddings.c.frame, distance.label("distance"))
        .join(items, items.c.id == embeddings.c.item_id)
        .where(*conditions)
    )
    with conn.begin():
        rows: list[Any] = []
        if not exact and size <= HNSW_MAX_DIMENSIONS:
            fetch = 2 * k + 10
            ef = min(1000, max(PG_EF_SEARCH, fetch if where is None else 1000))
            conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {int(ef)}"))
            rows = list(conn.execute(statement.order_by(distance).limit(fetch)))
        if exact or size > HNSW_MAX_DIMENSIONS or len(rows) < k:
            # ``+ 0`` keeps the planner off the index: an exact scan of the rows the conditions keep
            rows = list(conn.execute(statement.order_by(distance + sa.literal_column("0")).limit(2 * k + 10)))
    rows.sort(key=lambda row: (row.distance, row.id))
    return [Hit(row.item_id, row.frame, float(row.distance)) for row in rows[:k]]
