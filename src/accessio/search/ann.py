"""SQLite: each embedding key's vectors held in this process, kept in step with the catalog.

The stdlib ``sqlite3`` cannot load extensions, so vectors live in the catalog
(``embeddings``) and are searched here: below :data:`ANN_AT` vectors by exact
search (numpy), from there through a usearch HNSW graph saved beside the catalog
(``catalog.db.vectors/<key hash>-<token>.usearch``, named by ``vector_indexes``).

Before every search a key catches up with the catalog, whichever process wrote it:
rows with an id above the highest it holds are added, and ids the deletion log
(filled by a trigger) lists since its last look are removed. A newly registered item
is found at once, a deleted one never comes back, and no rebuild is ever needed. The
file is saved again after enough changes, and the log is pruned up to what the file
holds; a process behind the pruning reloads the file.

Labels are row ids (never reused: ``AUTOINCREMENT``). The graph holds float16 copies
of the vectors; distances are always recomputed from the catalog's float32 values,
so exact and approximate searches give the same distance for the same vector.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from usearch.index import Index

from accessio.catalog.db import CatalogError
from accessio.catalog.schema import embedding_deletions, embeddings, vector_indexes

ANN_AT = 20_000  # live vectors from which a key is searched through the HNSW graph (exact: ~5 ms at 20k x 512)
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 192  # recall@10 0.989 at 1M x 512 clustered, 0.7 ms (64: 0.948, 128: 0.979; bench/search_vectors.py)
SAVE_AFTER = 10_000  # changes since the file was saved before saving it again...
SAVE_SHARE = 0.1  # ...or this share of the key's vectors, when more
PRUNE_AT = 1_000  # deletions an exactly searched key applies before pruning the log
_BATCH = 50_000

_log = logging.getLogger(__name__)

Labels = npt.NDArray[np.int64]
Matrix = npt.NDArray[np.float32]


def index_directory(engine: sa.Engine) -> Path | None:
    """Where a SQLite catalog's index files live: beside the file (``None`` in memory)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return None
    return Path(f"{database}.vectors")


@dataclass
class KeyVectors:
    """One key's vectors in this process: an exact matrix or an HNSW graph."""

    key: str
    ndim: int
    added_upto: int = 0  # the highest row id held
    deleted_upto: int = 0  # the last deletion (log ``seq``) applied
    graph: Index | None = None
    labels: Labels = field(default_factory=lambda: np.zeros(0, np.int64))  # exact: row ids, ascending
    matrix: Matrix = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # exact: rows, normalized
    used: int = 0  # exact: rows of ``labels`` / ``matrix`` in use (live or dead)
    alive: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))
    changes: int = 0  # since the file was saved
    unpruned: int = 0  # exact: deletions applied since the log was pruned

    @property
    def size(self) -> int:
        if self.graph is not None:
            return len(self.graph)
        return int(np.count_nonzero(self.alive[: self.used]))

    def add(self, labels: Labels, vectors: Matrix) -> None:
        if not len(labels):
            return
        self.added_upto = max(self.added_upto, int(labels[-1]))
        self.changes += len(labels)
        if self.graph is not None:
            self.graph.add(labels, _normalized(vectors))  # float16 copies: unit length fits their range
            return
        needed = self.used + len(labels)
        if needed > len(self.labels):
            capacity = max(needed, 2 * len(self.labels), 1024)
            self.labels = np.resize(self.labels, capacity)
            grown = np.zeros((capacity, self.ndim), np.float32)
            if self.used:
                grown[: self.used] = self.matrix[: self.used]
            self.matrix = grown
            self.alive = np.resize(self.alive, capacity)
        self.labels[self.used : needed] = labels
        self.matrix[self.used : needed] = _normalized(vectors)
        self.alive[self.used : needed] = True
        self.used = needed

    def remove(self, labels: Labels) -> None:
        if not len(labels):
            return
        self.changes += len(labels)
        if self.graph is not None:
            self.graph.remove(labels)
            return
        self.unpruned += len(labels)
        held = self.labels[: self.used]
        at = np.searchsorted(held, labels)
        found = at < self.used
        at = at[found]
        at = at[held[at] == labels[found]]
        self.alive[at] = False
        if self.used > 1024 and np.count_nonzero(self.alive[: self.used]) < self.used // 2:
            self._compact()

    def _compact(self) -> None:
        keep = np.flatnonzero(self.alive[: self.used])
        self.labels, self.matrix = self.labels[keep].copy(), self.matrix[keep].copy()
        self.alive = np.ones(len(keep), np.bool_)
        self.used = len(keep)

    def to_graph(self) -> None:
        """Move an exact key onto an HNSW graph (it grew past :data:`ANN_AT`)."""
        graph = new_graph(self.ndim)
        keep = np.flatnonzero(self.alive[: self.used])
        for start in range(0, len(keep), _BATCH):
            part = keep[start : start + _BATCH]
            graph.add(self.labels[part], self.matrix[part])
        self.graph = graph
        self.labels, self.matrix = np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        self.alive, self.used = np.zeros(0, np.bool_), 0
        self.changes = max(self.changes, SAVE_AFTER)  # worth saving

    def exact_candidates(self, query: npt.NDArray[np.float64], count: int, allowed: Labels | None) -> Labels:
        """Labels of the ``count`` rows nearest ``query`` by a float32 scan (exact keys only)."""
        rows = np.flatnonzero(self.alive[: self.used])
        if allowed is not None:
            rows = rows[np.isin(self.labels[rows], allowed)]
        return _nearest_rows(self.labels[rows], self.matrix[rows], query, count)

    def graph_candidates(self, query: npt.NDArray[np.float64], count: int) -> Labels:
        assert self.graph is not None
        count = min(count, len(self.graph))
        if count <= 0:
            return np.zeros(0, np.int64)
        self.graph.expansion_search = max(EXPANSION_SEARCH, count)  # type: ignore[misc]  # it has a setter
        found = self.graph.search(query.astype(np.float32), count)
        return np.asarray(found.keys, dtype=np.int64)

    def exact_graph_candidates(self, query: npt.NDArray[np.float64], count: int, allowed: Labels) -> Labels:
        """A graph key: the ``count`` of ``allowed`` nearest ``query``, by a scan of their copies."""
        labels, vectors = self.graph_vectors(allowed)
        return _nearest_rows(labels, _normalized(vectors), query, count)

    def graph_vectors(self, labels: Labels) -> tuple[Labels, Matrix]:
        """The graph's (float16) copies of these rows' vectors, for an exact scan of a subset."""
        assert self.graph is not None
        got: tuple[Any, ...] = self.graph.get(labels, dtype="f32")  # type: ignore[assignment]  # many keys: a tuple
        pairs = [(label, vector) for label, vector in zip(labels.tolist(), got, strict=True) if vector is not None]
        if not pairs:
            return np.zeros(0, np.int64), np.zeros((0, self.ndim), np.float32)
        return np.array([p[0] for p in pairs], np.int64), np.stack([p[1] for p in pairs])


def _normalized(vectors: Matrix) -> Matrix:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalized: Matrix = (vectors / norms).astype(np.float32)
    return normalized


def _nearest_rows(labels: Labels, matrix: Matrix, query: npt.NDArray[np.float64], count: int) -> Labels:
    """The labels of the ``count`` rows of a normalized matrix nearest ``query`` (unordered)."""
    if not len(labels):
        return labels
    scores = matrix @ query.astype(np.float32)
    if count < len(scores):
        top = np.argpartition(-scores, count)[:count]
        return labels[top]
    return labels


def new_graph(ndim: int) -> Index:
    return Index(
        ndim=ndim,
        metric="cos",
        dtype="f16",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def _file_name(key: str, token: str) -> str:
    return f"{hashlib.sha256(key.encode()).hexdigest()[:16]}-{token}.usearch"


class VectorIndexes:
    """The keys of one SQLite catalog held in this process; thread-safe per key."""

    def __init__(self, engine: sa.Engine, *, ann_at: int = ANN_AT, directory: Path | None = None) -> None:
        self._engine = engine
        self._ann_at = ann_at
        self._directory = directory if directory is not None else index_directory(engine)
        self._held: dict[str, KeyVectors] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def caught_up(self, conn: sa.Connection, key: str, ndim: int) -> KeyVectors:
        """The key's vectors as the catalog holds them now (call under :meth:`lock`)."""
        held = self._held.get(key)
        for _attempt in range(3):
            state = self._state(conn, key, ndim)
            if held is None or held.ndim != ndim or held.deleted_upto < state["pruned_upto"]:
                held = self._load(conn, key, ndim, state)
            deleted = conn.execute(
                sa.select(embedding_deletions.c.seq, embedding_deletions.c.embedding_id)
                .where(embedding_deletions.c.key == key, embedding_deletions.c.seq > held.deleted_upto)
                .order_by(embedding_deletions.c.seq)
            ).all()
            if held.deleted_upto >= self._state(conn, key, ndim)["pruned_upto"]:
                break
            held = None  # the log was pruned while it was read: reload
        else:
            raise CatalogError(f"the vector index of key {key!r} changed during three attempts to read it; retry")
        self._add_new(conn, held)
        if deleted:
            held.remove(np.array([row.embedding_id for row in deleted], np.int64))
            held.deleted_upto = max(held.deleted_upto, deleted[-1].seq)
        if held.graph is None and held.size >= self._ann_at:
            held.to_graph()
        self._held[key] = held
        if held.graph is not None and held.changes >= max(SAVE_AFTER, SAVE_SHARE * held.size):
            self._save(held)
        elif held.graph is None and held.unpruned >= PRUNE_AT:
            self._prune(held)
        return held

    def _state(self, conn: sa.Connection, key: str, ndim: int) -> dict[str, Any]:
        row = conn.execute(sa.select(vector_indexes).where(vector_indexes.c.key == key)).mappings().first()
        if row is not None:
            return dict(row)
        return {"key": key, "ndim": ndim, "token": None, "added_upto": 0, "deleted_upto": 0, "pruned_upto": 0}

    def _add_new(self, conn: sa.Connection, held: KeyVectors) -> None:
        while True:
            rows = conn.execute(
                sa.select(embeddings.c.id, embeddings.c.vector)
                .where(embeddings.c.key == held.key, embeddings.c.id > held.added_upto)
                .order_by(embeddings.c.id)
                .limit(_BATCH)
            ).all()
            if not rows:
                return
            fit = [row for row in rows if len(row.vector) == 4 * held.ndim]  # others await sync_vector_indexes
            if fit:
                labels = np.array([row.id for row in fit], np.int64)
                vectors = np.frombuffer(b"".join(row.vector for row in fit), dtype="<f4").reshape(len(fit), -1)
                held.add(labels, vectors)
            held.added_upto = max(held.added_upto, int(rows[-1].id))
            if held.graph is None and held.size >= self._ann_at:
                held.to_graph()
            if len(rows) < _BATCH:
                return

    def _load(self, conn: sa.Connection, key: str, ndim: int, state: dict[str, Any]) -> KeyVectors:
        """The key from its saved file when that is usable, else from nothing (rows
        are added by the catch-up that follows)."""
        token = state["token"]
        if (
            token
            and self._directory is not None
            and state["ndim"] == ndim
            and state["deleted_upto"] >= state["pruned_upto"]
        ):
            path = self._directory / _file_name(key, token)
            try:
                graph = Index.restore(str(path))
            except (OSError, RuntimeError, ValueError) as exc:
                _log.warning("vector index %s could not be read (%s): rebuilding it", path, exc)
            else:
                if graph is not None and graph.ndim == ndim:
                    return KeyVectors(key, ndim, state["added_upto"], state["deleted_upto"], graph=graph)
        # Deletions logged before the rows are read are all reflected in the rows read.
        last = conn.execute(sa.select(sa.func.max(embedding_deletions.c.seq))).scalar_one() or 0
        return KeyVectors(key, ndim, deleted_upto=max(int(last), int(state["pruned_upto"])))

    def _save(self, held: KeyVectors) -> None:
        """Save the graph beside the catalog, then record it and prune the log up to it."""
        if self._directory is None or held.graph is None:
            held.changes = 0
            return
        self._directory.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        path = self._directory / _file_name(held.key, token)
        partial = path.with_suffix(".partial")
        held.graph.save(str(partial))
        os.replace(partial, path)
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            # the write lock first: a read before it could not be followed by this write
            self._upsert_state(conn, held.key, held.ndim, now)
            old = conn.execute(sa.select(vector_indexes.c.token).where(vector_indexes.c.key == held.key)).scalar()
            conn.execute(
                vector_indexes.update()
                .where(vector_indexes.c.key == held.key)
                .values(
                    token=token,
                    ndim=held.ndim,
                    added_upto=held.added_upto,
                    deleted_upto=held.deleted_upto,
                    pruned_upto=held.deleted_upto,
                    updated_at=now,
                )
            )
            conn.execute(
                embedding_deletions.delete().where(
                    embedding_deletions.c.key == held.key, embedding_deletions.c.seq <= held.deleted_upto
                )
            )
        if old and old != token:
            with contextlib.suppress(FileNotFoundError):
                (self._directory / _file_name(held.key, old)).unlink()
        held.changes = 0

    def _prune(self, held: KeyVectors) -> None:
        """An exact key: drop the log up to what this process applied (others reload:
        cheap below :data:`ANN_AT`); a saved file is older than that, so it goes."""
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            self._upsert_state(conn, held.key, held.ndim, now)
            old = conn.execute(sa.select(vector_indexes.c.token).where(vector_indexes.c.key == held.key)).scalar()
            conn.execute(
                vector_indexes.update()
                .where(vector_indexes.c.key == held.key)
                .values(token=None, pruned_upto=held.deleted_upto, updated_at=now)
            )
            conn.execute(
                embedding_deletions.delete().where(
                    embedding_deletions.c.key == held.key, embedding_deletions.c.seq <= held.deleted_upto
                )
            )
        if old and self._directory is not None:
            with contextlib.suppress(FileNotFoundError):
                (self._directory / _file_name(held.key, old)).unlink()
        held.unpruned = 0

    @staticmethod
    def _upsert_state(conn: sa.Connection, key: str, ndim: int, now: datetime) -> None:
        updated = conn.execute(
            vector_indexes.update().where(vector_indexes.c.key == key).values(updated_at=now)
        ).rowcount
        if not updated:
            conn.execute(vector_indexes.insert().values(key=key, ndim=ndim, updated_at=now))
