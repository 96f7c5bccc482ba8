"""Registration throughput, end to end through the public API, against baselines of the same run.

1. N image units with supplied imageMetadata from one JSON spec into a fresh SQLite
   catalog: parse, validate, plan (units stored), write, finish. Baseline: the same
   parse, then a bare ``executemany`` of equivalent item rows into a fresh catalog.
2. The same spec again (it carries ``skip_duplicate_urls``): nothing new is created.
3. The first run on PostgreSQL (pgserver, local socket).
4. M objects without metadata on a local S3 server (moto): objects/s and client CPU
   per object (one ranged GET each).

    .venv/bin/python bench/register.py [--units 500000] [--objects 2000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from accessio.catalog import create_engine
from accessio.catalog.bulk import ITEM_COLUMNS, db_timestamp
from accessio.catalog.items import url_key
from accessio.service import Accessio
from accessio.spec import parse_json


def spec_bytes(units: int, root: str) -> bytes:
    images = [
        {
            "objectUrl": f"file://{root}/batch-{i // 1000:04d}/image-{i:07d}.jpg",
            "imageMetadata": {"mimeType": "image/jpeg", "fileSize": 10_000 + i, "width": 1920, "height": 1080},
            "clientMetadata": {"site": ("Algiers", "Oran", "Annaba")[i % 3], "frame": i % 1000},
        }
        for i in range(units)
    ]
    return msgspec.json.encode({"images": images, "skip_duplicate_urls": True})


def registration(catalog: str, data: bytes, root: str, first: bool = True) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    spec = parse_json(data)
    with Accessio(catalog) as app:
        if first:
            app.add_integration("media", "local", root=root)
            app.create_folder("bench")
        job = app.start_registration(spec, folder="bench", integration="media")
        job.run()
        counts = job.counts()
    return time.perf_counter() - start, counts


def baseline(catalog: str, data: bytes) -> float:
    """The same parse, then equivalent item rows written with one bare executemany."""
    engine = create_engine(catalog)  # the same schema and indexes
    start = time.perf_counter()
    spec = parse_json(data)
    now = db_timestamp("sqlite", datetime.now(UTC))
    folder, job = str(uuid.uuid4()), str(uuid.uuid4())
    index = {c: i for i, c in enumerate(ITEM_COLUMNS)}
    rows = []
    for n, image in enumerate(spec.images):
        row: list[object] = [None] * len(ITEM_COLUMNS)
        meta = image.image_metadata
        assert meta is not None
        for column, value in (
            ("id", f"{job[:24]}{n:012x}"), ("folder_id", folder), ("item_type", "image"),
            ("name", image.display_title), ("url", image.object_url),
            ("url_key", url_key(image.object_url)), ("integration_id", folder),
            ("file_size", meta.file_size), ("mime_type", meta.mime_type), ("width", meta.width),
            ("height", meta.height), ("client_metadata", msgspec.json.encode(image.client_metadata).decode()),
            ("is_tombstone", 0), ("job_id", job), ("created_at", now), ("updated_at", now),
        ):  # fmt: skip
            row[index[column]] = value
        rows.append(tuple(row))
    raw = engine.raw_connection()
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.cursor().executemany(
        f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) VALUES ({', '.join('?' * len(ITEM_COLUMNS))})", rows
    )
    raw.commit()
    elapsed = time.perf_counter() - start
    raw.close()
    engine.dispose()
    return elapsed


def postgres_run(data: bytes, root: str) -> tuple[float, dict[str, int]]:
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    import pgserver  # noqa: PLC0415 - only this measurement needs PostgreSQL

    server = pgserver.get_server(tempfile.mkdtemp(prefix="bench-pg-"), cleanup_mode="delete")
    try:
        return registration(server.get_uri(), data, root)
    finally:
        server.cleanup()


def noise_jpeg(width: int, height: int) -> bytes:
    """A real JPEG (registration probes what it reads) that does not compress away."""
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


def s3_objects(count: int, tmp: Path) -> tuple[float, float, dict[str, int]]:
    """moto's S3 server runs in a process of its own, so the CPU time measured is the client's."""
    import socket  # noqa: PLC0415

    import boto3  # noqa: PLC0415 - test extras: moto's server and a client to fill it

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket="media")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        body = noise_jpeg(96, 72)
        print(f"objects: {count:,} JPEGs of {len(body):,} bytes (96 x 72 noise)")
        for n in range(count):
            client.put_object(Bucket="media", Key=f"objects/{n:05d}.jpg", Body=body,
                              ContentType="image/jpeg")  # fmt: skip
        os.environ.update(BENCH_ACCESS_KEY_ID="testing", BENCH_SECRET_ACCESS_KEY="testing")
        urls = [f"{endpoint}/media/objects/{n:05d}.jpg" for n in range(count)]
        data = msgspec.json.encode({"images": [{"objectUrl": url} for url in urls]})
        with Accessio(str(tmp / "s3.db")) as app:
            app.add_integration(
                "s3", "s3Compatible", endpoint=endpoint, credentials="env:BENCH", allow_private_network=True
            )
            app.create_folder("bench")
            job = app.start_registration(parse_json(data), folder="bench", integration="s3")
            cpu, wall = time.process_time(), time.perf_counter()
            job.run()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            counts = job.counts()
    finally:
        server.terminate()
        server.wait()
    return wall, cpu, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=500_000)
    parser.add_argument("--objects", type=int, default=2_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    n = args.units
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = str(tmp / "media")
        os.makedirs(root)
        data = spec_bytes(n, root)
        print(f"spec: {n:,} image units with imageMetadata, {len(data) / 1e6:.1f} MB")

        base = baseline(str(tmp / "baseline.db"), data)
        print(f"baseline (parse + bare executemany of the rows): {base:.2f} s = {n / base:,.0f} units/s")

        elapsed, counts = registration(str(tmp / "catalog.db"), data, root)
        ratio = elapsed / base
        print(f"SQLite, first run: {elapsed:.2f} s = {n / elapsed:,.0f} units/s (target >= 50,000), "
              f"{ratio:.2f}x the baseline (target <= 3x); created {counts['created']:,}")  # fmt: skip
        again, counts = registration(str(tmp / "catalog.db"), data, root, first=False)
        print(f"SQLite, same spec again (skip_duplicate_urls): {again:.2f} s = {n / again:,.0f} units/s "
              f"(target >= 100,000); created {counts['created']:,}, skipped {counts['skipped']:,}")  # fmt: skip

        if not args.skip_postgres:
            pg, counts = postgres_run(data, root)
            print(f"PostgreSQL, first run: {pg:.2f} s = {n / pg:,.0f} units/s (target >= 20,000); "
                  f"created {counts['created']:,}")  # fmt: skip

        wall, cpu, counts = s3_objects(args.objects, tmp)
        print(f"{args.objects:,} objects without metadata on the local S3 server: {wall:.2f} s = "
              f"{args.objects / wall:,.0f} objects/s, client CPU {cpu / args.objects * 1000:.2f} ms per object; "
              f"created {counts['created']:,}, failed {counts['error']:,}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
