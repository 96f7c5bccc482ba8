"""Similarity search at scale: N embeddings of D numbers, top-10 latency and recall@10
against an exact search of the same vectors, measured in the same run.

The vectors are clustered, as real embeddings are (uniform random vectors in 512
dimensions have no near neighbours to find, and make any ANN index look bad):
``N / 500`` centres drawn from a standard normal, each vector a centre plus normal
noise of standard deviation ``--noise`` (0.5: the clusters overlap, a neighbour
list crosses clusters), and the queries fresh draws from the same mixture. The
truth is an exact cosine top-10 by numpy over all N, ties broken by id.

1. SQLite: items and vectors written to a catalog file, then the first search builds
   the usearch HNSW index (and saves it beside the catalog); latency is that of
   ``VectorSearch.similar`` (catch-up with the catalog, graph search, re-rank from the
   stored vectors), and of the graph search alone. A vector registered after that is
   found by the next search.
2. Exact numpy search of one query at the size below which SQLite searches exactly.
3. PostgreSQL (pgserver, pgvector 0.6): vectors COPYed in, then the HNSW index built
   (m 16, ef_construction 128, maintenance_work_mem 8GB, one parallel worker);
   latency and recall of ``VectorSearch.similar`` (``hnsw.ef_search`` 200).

    .venv/bin/python bench/search_vectors.py [--size 1000000] [--dim 512] [--queries 500]
        [--skip-postgres | --skip-sqlite] [--pg-size N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from accessio.catalog import bulk
from accessio.catalog import embeddings as embedding_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.db import create_engine
from accessio.catalog.items import url_key
from accessio.search import ann
from accessio.search.vectors import VectorSearch

KEY = "emb"


def clustered(n: int, dim: int, noise: float, seed: int, centres: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if centres is None:
        centres = np.random.default_rng(0).standard_normal((max(n // 500, 10), dim), dtype=np.float32)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        labels = rng.integers(0, len(centres), size)
        out[start : start + size] = centres[labels] + noise * rng.standard_normal((size, dim), dtype=np.float32)
    return out


def exact_truth(data: np.ndarray, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, float]:
    """Exact cosine top-k row numbers per query, and the time per query of that scan (batched)."""
    unit_queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    norms = np.linalg.norm(data, axis=1)
    best = np.full((len(queries), k), -np.inf, np.float32)
    rows = np.zeros((len(queries), k), np.int64)
    start = time.perf_counter()
    for first in range(0, len(data), 200_000):
        block = data[first : first + 200_000]
        scores = (unit_queries @ block.T) / norms[first : first + 200_000]
        merged_scores = np.concatenate([best, scores], axis=1)
        merged_rows = np.concatenate([rows, np.arange(first, first + len(block))[None, :].repeat(len(queries), 0)], 1)
        top = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(merged_scores, top, 1)
        rows = np.take_along_axis(merged_rows, top, 1)
    return rows, (time.perf_counter() - start) / len(queries)


def item_rows(n: int, folder: str, job: str, dialect: str) -> Iterator[list[tuple[Any, ...]]]:
    now = bulk.db_timestamp(dialect, datetime.now(UTC))
    index = {c: i for i, c in enumerate(bulk.ITEM_COLUMNS)}
    template: list[Any] = [None] * len(bulk.ITEM_COLUMNS)
    fixed = {"folder_id": folder, "integration_id": "bench", "item_type": "image", "is_tombstone": False,
             "job_id": job, "created_at": now, "updated_at": now}  # fmt: skip
    for column, value in fixed.items():
        template[index[column]] = value
    for first in range(0, n, 50_000):
        chunk = []
        for number in range(first, min(n, first + 50_000)):
            row = list(template)
            address = f"file:///bench/{number:07d}.jpg"
            row[index["id"]] = item_id(job, number)
            row[index["name"]] = f"{number:07d}"
            row[index["url"]] = address
            row[index["url_key"]] = url_key(address)
            chunk.append(tuple(row))
        yield chunk


def item_id(job: str, number: int) -> str:
    return f"{job[:24]}{number:012x}"


def load_catalog(engine: sa.Engine, data: np.ndarray, *, index_after: bool = False) -> tuple[str, float]:
    """Items and their vectors, written the way registration writes them; returns the job id and seconds."""
    job, folder = str(uuid.uuid4()), str(uuid.uuid4())
    dialect = engine.dialect.name
    start = time.perf_counter()
    with engine.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(sa.text("INSERT INTO integrations (id, name, provider, access_mode, sign_ttl_s, created_at) "
                             "VALUES ('bench', 'bench', 'local', 'server', 3600, :now)"), {"now": now})  # fmt: skip
        conn.execute(sa.text("INSERT INTO folders (id, path, name, description, created_at, updated_at) "
                             "VALUES (:id, 'bench', 'bench', '', :now, :now)"), {"id": folder, "now": now})  # fmt: skip
        schema_store.add_embedding(conn, KEY, data.shape[1])
        if not index_after:
            embedding_store.sync_vector_indexes(conn, schema_store.load(conn))
    for number, chunk in enumerate(item_rows(len(data), folder, job, dialect)):
        first = number * 50_000
        vectors = [
            (item_id(job, first + i), KEY, None, data[first + i].astype("<f4").tobytes()) for i in range(len(chunk))
        ]
        with engine.begin() as conn:
            bulk.insert_items(conn, chunk)
            embedding_store.insert(conn, vectors)
    return job, time.perf_counter() - start


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)) * 1000, float(np.percentile(values, 95)) * 1000


def measure(search: VectorSearch, queries: np.ndarray, truth: np.ndarray, job: str) -> dict[str, float]:
    """Latency of ``similar`` per query and recall@10 against ``truth``."""
    rows_of = {item_id(job, int(row)): int(row) for row in np.unique(truth)}
    latencies, recalls = [], []
    for query, expected in zip(queries, truth, strict=True):
        start = time.perf_counter()
        hits = search.similar(KEY, vector=query, k=10)
        latencies.append(time.perf_counter() - start)
        found = {rows_of.get(hit.item_id, -1) for hit in hits}
        recalls.append(len(found & {int(r) for r in expected}) / 10)
    p50, p95 = percentiles(latencies)
    return {"p50_ms": p50, "p95_ms": p95, "recall": float(np.mean(recalls))}


def sqlite_run(data: np.ndarray, queries: np.ndarray, truth: np.ndarray, tmp: Path) -> dict[str, float]:
    catalog = tmp / "vectors.db"
    engine = create_engine(str(catalog))
    job, load = load_catalog(engine, data)
    print(f"SQLite: {len(data):,} items and vectors written in {load:.1f} s "
          f"({len(data) / load:,.0f}/s); catalog {catalog.stat().st_size / 1e9:.2f} GB")  # fmt: skip
    search = VectorSearch(engine)
    start = time.perf_counter()
    search.similar(KEY, vector=queries[0], k=10)  # builds the index from the catalog, and saves it
    build = time.perf_counter() - start
    saved = sum(f.stat().st_size for f in Path(f"{catalog}.vectors").glob("*.usearch"))
    print(f"SQLite: first search built the usearch HNSW index (f16, M {ann.CONNECTIVITY}, ef_construction "
          f"{ann.EXPANSION_ADD}) in {build:.1f} s; saved {saved / 1e9:.2f} GB beside the catalog")  # fmt: skip
    figures = measure(search, queries, truth, job)
    graph = search._indexes._held[KEY].graph  # type: ignore[union-attr]
    assert graph is not None
    alone = []
    for query in queries:
        start = time.perf_counter()
        graph.search(query / np.linalg.norm(query), 30)
        alone.append(time.perf_counter() - start)
    graph_p50, graph_p95 = percentiles(alone)
    print(f"SQLite top-10 through VectorSearch.similar: p50 {figures['p50_ms']:.2f} ms, p95 {figures['p95_ms']:.2f} ms "
          f"(target p50 < 20 ms); recall@10 {figures['recall']:.4f} (target >= 0.95); "
          f"graph search alone p50 {graph_p50:.2f} ms, p95 {graph_p95:.2f} ms")  # fmt: skip

    reopened = VectorSearch(engine)  # another process: loads the saved file
    start = time.perf_counter()
    reopened.similar(KEY, vector=queries[1], k=10)
    print(f"SQLite: a new process's first search (loads the saved index) {time.perf_counter() - start:.2f} s")

    fresh = clustered(1, data.shape[1], 0.5, seed=99)[0]
    job_new = str(uuid.uuid4())
    folder = search_folder(engine)
    rows = next(item_rows(1, folder, job_new, "sqlite"))
    with engine.begin() as conn:
        bulk.insert_items(conn, rows)
        embedding_store.insert(conn, [(item_id(job_new, 0), KEY, None, fresh.astype("<f4").tobytes())])
    start = time.perf_counter()
    (top,) = search.similar(KEY, vector=fresh, k=1)
    print(f"SQLite: a vector written after the index was built is found by the next search: "
          f"{top.item_id == item_id(job_new, 0)} ({(time.perf_counter() - start) * 1000:.1f} ms)")  # fmt: skip
    engine.dispose()
    return {**figures, "build_s": build, "load_s": load}


def search_folder(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM folders WHERE path = 'bench'")).scalar_one())


def exact_numpy_latency(dim: int, size: int) -> tuple[float, float]:
    data = clustered(size, dim, 0.5, seed=5)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = clustered(100, dim, 0.5, seed=6)
    times = []
    for query in queries:
        start = time.perf_counter()
        scores = data @ (query / np.linalg.norm(query))
        np.argpartition(-scores, 10)[:10]
        times.append(time.perf_counter() - start)
    return percentiles(times)


def postgres_run(data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    import pgserver  # noqa: PLC0415 - only this measurement needs PostgreSQL

    server = pgserver.get_server(tempfile.mkdtemp(prefix="bench-pg-"), cleanup_mode="delete")
    try:
        engine = create_engine(server.get_uri())
        job, load = load_catalog(engine, data, index_after=True)
        print(f"PostgreSQL: {len(data):,} items and vectors written (binary COPY) in {load:.1f} s "
              f"({len(data) / load:,.0f}/s)")  # fmt: skip
        with engine.begin() as conn:
            conn.execute(sa.text("SET maintenance_work_mem = '8GB'"))
            conn.execute(sa.text("SET max_parallel_maintenance_workers = 1"))
            start = time.perf_counter()
            embedding_store.sync_vector_indexes(conn, schema_store.load(conn))
            build = time.perf_counter() - start
            conn.execute(sa.text("ANALYZE embeddings"))
        print(f"PostgreSQL: HNSW index (m {embedding_store.HNSW_M}, ef_construction "
              f"{embedding_store.HNSW_EF_CONSTRUCTION}) built in {build:.1f} s")  # fmt: skip
        search = VectorSearch(engine)
        search.similar(KEY, vector=queries[0], k=10)  # warm the connection
        figures = measure(search, queries, truth, job)
        print(f"PostgreSQL top-10 through VectorSearch.similar: p50 {figures['p50_ms']:.2f} ms, "
              f"p95 {figures['p95_ms']:.2f} ms; recall@10 {figures['recall']:.4f}")  # fmt: skip
        engine.dispose()
        return {**figures, "build_s": build, "load_s": load}
    finally:
        server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--pg-size", type=int, default=None, help="vectors for PostgreSQL (default: --size)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = clustered(args.size, args.dim, args.noise, seed=1)
    centres = np.random.default_rng(0).standard_normal((max(args.size // 500, 10), args.dim), dtype=np.float32)
    queries = clustered(args.queries, args.dim, args.noise, seed=2, centres=centres)
    print(f"data: {args.size:,} clustered vectors of {args.dim} (noise {args.noise}), {args.queries} queries; "
          f"generated in {time.perf_counter() - started:.1f} s")  # fmt: skip
    truth, per_query = exact_truth(data, queries)
    print(f"exact truth: numpy, batched, {per_query * 1000:.1f} ms per query over {args.size:,}")
    p50, p95 = exact_numpy_latency(args.dim, ann.ANN_AT)
    print(f"exact numpy, one query over {ann.ANN_AT:,} vectors (below this SQLite searches exactly): "
          f"p50 {p50:.2f} ms, p95 {p95:.2f} ms")  # fmt: skip
    sqlite: dict[str, float] = {}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = sqlite_run(data, queries, truth, Path(tmp))
    if not args.skip_postgres:
        size = args.pg_size or args.size
        if size != args.size:
            data = data[:size]
            truth, _ = exact_truth(data, queries)
            print(f"PostgreSQL on the first {size:,} vectors (truth recomputed for them)")
        postgres_run(data, queries, truth)
    if sqlite:
        print(f"SQLite summary: p50 {sqlite['p50_ms']:.2f} ms (target < 20 ms: {sqlite['p50_ms'] / 20:.2f}x of it), "
              f"recall@10 {sqlite['recall']:.4f} (target >= 0.95)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
