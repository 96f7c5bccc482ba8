"""Filter and sort latency on a large folder, against the same filters before the indexes exist.

N items (default 1,000,000) with 5 typed client metadata keys (site varchar, weather
enum, frames number, captured_at datetime, reviewed boolean) are written with the bulk
path into a fresh SQLite catalog and a fresh PostgreSQL one (pgserver, local socket).
Then 10 representative filters, each with a sort and a limit of 100 as ``accessio
items ls`` asks, run through the public API (``Accessio.items_page``): first before
``sync_key_indexes`` (the baseline: scans), then after it, R times each. Printed per
filter and backend: how many items match, p50 and p95 after, p50 before, and the ratio.
Targets: selective filters (at most 1% of the items) p50 < 50 ms and p95 < 200 ms.

    .venv/bin/python bench/search.py [--items 1000000] [--repeats 20] [--skip-postgres] [--with-vectors]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.bulk import ITEM_COLUMNS, db_timestamp, insert_items
from accessio.catalog.items import url_key
from accessio.catalog.schema import items
from accessio.search import compile_filter, parse_filter, sync_key_indexes
from accessio.service import Accessio

SITES = [f"site-{n:03d}" for n in range(200)]
WEATHER = ["sunny", "cloudy", "rainy", "snowy", "foggy"]
WEATHER_WEIGHTS = [50, 25, 15, 5, 5]
START = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_S = 5 * 365 * 86400  # captured_at spreads over five years

# (filter, sort, desc): selective ones first
FILTERS: list[tuple[str, str | None, bool]] = [
    ("frames > 99900", None, False),
    ('site = "site-042"', "frames", False),
    ("captured_at >= 2024-12-25", "captured_at", True),
    ('site in ("site-001", "site-002") and frames < 5000', "captured_at", False),
    ("reviewed = false and captured_at < 2020-02-01", None, False),
    ('weather = "snowy"', "captured_at", True),
    ('weather = "sunny" and reviewed = true', "frames", False),
    ('frames >= 50000 and weather in ("rainy", "snowy")', "captured_at", True),
    ("not exists(reviewed)", None, False),
    ('name like "%-0004242%"', None, False),
]


def metadata(rng: random.Random) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "site": rng.choice(SITES),
        "weather": rng.choices(WEATHER, WEATHER_WEIGHTS)[0],
        "frames": rng.randrange(100_000),
        "captured_at": (START + timedelta(seconds=rng.randrange(SPAN_S))).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rng.random() < 0.9:  # one item in ten was never reviewed: the key is missing
        meta["reviewed"] = rng.random() < 0.5
    return meta


def chunks(total: int, folder_id: str, dialect: str, size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    rng = random.Random(7)
    now = db_timestamp(dialect, datetime.now(UTC))
    index = {c: i for i, c in enumerate(ITEM_COLUMNS)}
    job = str(uuid.uuid4())
    for start in range(0, total, size):
        rows = []
        for n in range(start, min(start + size, total)):
            row: list[Any] = [None] * len(ITEM_COLUMNS)
            url = f"s3://bench/batch-{n // 1000:04d}/image-{n:07d}.jpg"
            for column, value in (
                ("id", str(uuid.UUID(int=rng.getrandbits(128), version=4))), ("folder_id", folder_id),
                ("item_type", "image"), ("name", f"image-{n:07d}.jpg"), ("url", url), ("url_key", url_key(url)),
                ("integration_id", folder_id), ("file_size", 10_000 + n), ("mime_type", "image/jpeg"),
                ("width", 1920), ("height", 1080), ("client_metadata", json.dumps(metadata(rng))),
                ("is_tombstone", False if dialect == "postgresql" else 0), ("job_id", job),
                ("created_at", now), ("updated_at", now),
            ):  # fmt: skip
                row[index[column]] = value
            rows.append(tuple(row))
        yield rows


def fill(app: Accessio, total: int) -> str:
    """A folder of ``total`` items and the schema of their 5 keys; the folder's id."""
    folder = app.create_folder("bench")
    with app.engine.begin() as conn:
        schema_store.add_enum(conn, "weather", WEATHER)
        schema_store.add_scalar(conn, "site", "varchar")
        schema_store.add_scalar(conn, "frames", "number")
        schema_store.add_scalar(conn, "captured_at", "datetime")
        schema_store.add_scalar(conn, "reviewed", "boolean")
    for rows in chunks(total, folder.id, app.engine.dialect.name):
        with app.engine.begin() as conn:
            insert_items(conn, rows)
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return folder.id


def matches(app: Accessio, folder_id: str, where: str) -> int:
    with app.engine.connect() as conn:
        condition = compile_filter(parse_filter(where), dialect=conn.dialect.name, schema=schema_store.load(conn))
        query = sa.select(sa.func.count()).where(items.c.folder_id == folder_id, items.c.parent_item_id.is_(None))
        return int(conn.execute(query.where(condition)).scalar_one())


def timings(app: Accessio, where: str, sort: str | None, desc: bool, repeats: int) -> list[float]:
    app.items_page("bench", where=where, sort=sort, desc=desc, limit=100)  # warm: plans, caches
    spent = []
    for _ in range(repeats):
        start = time.perf_counter()
        app.items_page("bench", where=where, sort=sort, desc=desc, limit=100)
        spent.append(time.perf_counter() - start)
    return spent


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def measure(label: str, catalog: str, total: int, repeats: int, baseline_repeats: int) -> list[dict[str, Any]]:
    with Accessio(catalog) as app:
        start = time.perf_counter()
        folder_id = fill(app, total)
        print(f"{label}: {total:,} items written in {time.perf_counter() - start:.1f} s", flush=True)
        before = {}
        for where, sort, desc in FILTERS:
            before[where] = timings(app, where, sort, desc, baseline_repeats)
        start = time.perf_counter()
        with app.engine.begin() as conn:
            sync_key_indexes(conn, schema_store.load(conn))
        print(f"{label}: sync_key_indexes (5 key indexes + statistics) {time.perf_counter() - start:.1f} s")
        results = []
        for where, sort, desc in FILTERS:
            after = timings(app, where, sort, desc, repeats)
            count = matches(app, folder_id, where)
            figures = {"p50": p(after, 50), "p95": p(after, 95), "before": statistics.median(before[where])}
            results.append({"where": where, "sort": sort, "desc": desc, "matches": count, **figures})
    print_table(label, total, results)
    return results


def print_table(label: str, total: int, results: list[dict[str, Any]]) -> None:
    print(f"\n{label}, {total:,} items, limit 100 (ms)")
    print(f"{'filter':58} {'sort':16} {'matches':>9} {'p50':>8} {'p95':>8} {'no index':>9} {'ratio':>7}  target")
    for r in results:
        sort = (r["sort"] or "name") + (" desc" if r["desc"] else "")
        selective = r["matches"] <= total // 100
        target = ("ok" if r["p50"] < 0.05 and r["p95"] < 0.2 else "MISSED") if selective else "(broad)"
        if 'like "%' in r["where"]:
            target += " (a leading % reads every item: no index can serve it)"
        print(f"{r['where']:58} {sort:16} {r['matches']:>9,} {r['p50'] * 1000:>8.1f} {r['p95'] * 1000:>8.1f} "
              f"{r['before'] * 1000:>9.1f} {r['before'] / r['p50']:>6.0f}x  {target}")  # fmt: skip
    print(flush=True)


def postgres_catalog() -> tuple[str, Any]:
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    import pgserver  # noqa: PLC0415 - only this measurement needs PostgreSQL

    server = pgserver.get_server(tempfile.mkdtemp(prefix="bench-pg-"), cleanup_mode="delete")
    return str(server.get_uri()), server


def vectors(args: list[str]) -> None:
    """The similarity benchmark, when it is there (``bench/search_vectors.py``)."""
    script = Path(__file__).with_name("search_vectors.py")
    if not script.exists():
        print("bench/search_vectors.py is not there: no vector figures")
        return
    subprocess.run([sys.executable, str(script), *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--with-vectors", nargs=argparse.REMAINDER, default=None,
                        help="then run bench/search_vectors.py with the arguments that follow")  # fmt: skip
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sqlite:
            measure("SQLite", str(Path(tmp) / "catalog.db"), args.items, args.repeats, args.baseline_repeats)
        if not args.skip_postgres:
            url, server = postgres_catalog()
            try:
                measure("PostgreSQL", url, args.items, args.repeats, args.baseline_repeats)
            finally:
                server.cleanup()
    if args.with_vectors is not None:
        vectors(args.with_vectors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
