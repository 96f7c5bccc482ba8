"""Synced folders: a first sync, a re-sync with nothing changed and a re-sync with 1 %
changed, against a full re-registration of the same prefix in the same run.

    .venv/bin/python bench/sync.py [--files 100000] [--dir /tmp/sync-bench] [--store local|s3]

``--store local`` (the default) makes ``--files`` small JPEGs in a local directory (in
``--dir`` when given; each file gets a size and modification time of its own).
``--store s3`` puts them on moto's S3 server (the tests') behind a proxy that adds 20 ms
to every request, as a real bucket's network does. Then, in a fresh SQLite catalog:

1. ``accessio folder create F --sync`` + a first sync: every object listed, read, probed
   and registered;
2. a re-sync with nothing changed (checked: no item row written);
3. a re-sync after 1 % of the objects changed: a quarter added, a quarter rewritten, a
   quarter deleted, a quarter moved under another prefix (checked: the moved items keep
   their ids);
4. the baseline: a full re-registration of the prefix, as a tool without incremental
   sync does it: a spec generated from a listing (``accessio spec generate``), registered
   into a fresh folder, every object probed;
5. the listing alone, which a re-sync cannot do without.

Prints each step's seconds and writes (the sync's actions: one per object added,
changed, moved or deleted) and the ratio baseline / 1 % re-sync (target >= 10).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' latency proxy

from tests.cluster_servers import LatencyProxy  # noqa: E402

from accessio.catalog.schema import items  # noqa: E402
from accessio.jobs.sync import listing_of  # noqa: E402
from accessio.service import Accessio  # noqa: E402
from accessio.spec.generate import generate  # noqa: E402


def jpeg_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


BASE = jpeg_bytes(32, 24)


def body(n: int) -> bytes:
    return BASE + b"\0" * (n % 4096)  # bytes after the end of the JPEG: a size (and ETag) of its own


class LocalStore:
    """The objects as files of a local directory."""

    def __init__(self, root: Path, count: int) -> None:
        self.root, self.count = root, count
        self.prefix = root.as_uri()
        self.marker = root.parent / f".{root.name}-made-{count}"  # beside the files: a sync would list it

    def integration(self, app: Accessio) -> None:
        app.add_integration("store", "local", root=str(self.root))

    def make(self) -> None:
        if self.marker.exists():
            return
        if self.root.exists():
            shutil.rmtree(self.root)
        started = time.perf_counter()
        for n in range(self.count):
            directory = self.root / f"d{n // 1000:03d}"
            if n % 1000 == 0:
                directory.mkdir(parents=True)
            path = directory / f"img{n:06d}.jpg"
            path.write_bytes(body(n))
            stamp = 1_700_000_000_000_000_000 + n * 1000
            os.utime(path, ns=(stamp, stamp))
        self.marker.touch()
        print(f"made {self.count:,} JPEGs in {time.perf_counter() - started:.1f} s ({self.root})")

    def change(self, picked: list[int]) -> list[str]:
        """Rewrite, delete and move a third of ``picked`` each, add as many; the moved objects' new URLs."""
        self.marker.unlink()  # changed: the next run makes them again
        third = len(picked) // 3
        rewritten, deleted, moved = picked[:third], picked[third : 2 * third], picked[2 * third :]
        for directory in ("moved", "added"):
            (self.root / directory).mkdir(exist_ok=True)
        for n in rewritten:
            self._path(n).write_bytes(jpeg_bytes(64, 48))
        for n in deleted:
            self._path(n).unlink()
        targets = []
        for n in moved:
            target = self.root / "moved" / self._path(n).name
            self._path(n).rename(target)
            targets.append(target.as_uri())
        for n in range(third):
            (self.root / "added" / f"new{n:05d}.jpg").write_bytes(jpeg_bytes(40, 30) + b"\0" * n)
        return targets

    def _path(self, n: int) -> Path:
        return self.root / f"d{n // 1000:03d}" / f"img{n:06d}.jpg"

    def stop(self) -> None:
        pass


class S3Store:
    """The objects on moto's S3 server, behind a proxy that adds 20 ms to every request."""

    def __init__(self, count: int) -> None:
        import boto3  # noqa: PLC0415 - test extras

        self.count = count
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        self.server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        self.client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.create_bucket(Bucket="media")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.proxy = LatencyProxy(port, delay_s=0.02).start()
        self.prefix = f"{self.proxy.endpoint}/media/objects/"
        os.environ.update({"BENCH_ACCESS_KEY_ID": "testing", "BENCH_SECRET_ACCESS_KEY": "testing"})

    def integration(self, app: Accessio) -> None:
        app.add_integration("store", "s3Compatible", root="media", endpoint=self.proxy.endpoint,
                            credentials="env:BENCH", allow_private_network=True)  # fmt: skip

    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket="media", Key=key, Body=data, ContentType="image/jpeg")

    def make(self) -> None:
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: self._put(self._key(n), body(n)), range(self.count)))
        print(f"put {self.count:,} JPEGs on moto in {time.perf_counter() - started:.1f} s")

    def change(self, picked: list[int]) -> list[str]:
        third = len(picked) // 3
        rewritten, deleted, moved = picked[:third], picked[third : 2 * third], picked[2 * third :]
        targets = []
        for n in rewritten:
            self._put(self._key(n), jpeg_bytes(64, 48))
        for n in deleted:
            self.client.delete_object(Bucket="media", Key=self._key(n))
        for n in moved:
            target = f"objects/moved/img{n:06d}.jpg"
            self.client.copy_object(Bucket="media", Key=target, CopySource={"Bucket": "media", "Key": self._key(n)})
            self.client.delete_object(Bucket="media", Key=self._key(n))
            targets.append(f"{self.proxy.endpoint}/media/{target}")
        for n in range(third):
            self._put(f"objects/added/new{n:05d}.jpg", jpeg_bytes(40, 30) + b"\0" * n)
        return targets

    @staticmethod
    def _key(n: int) -> str:
        return f"objects/d{n // 1000:03d}/img{n:06d}.jpg"

    def stop(self) -> None:
        self.proxy.stop()
        self.server.terminate()
        self.server.wait()


def timed_sync(app: Accessio, folder: str) -> tuple[float, dict[str, int], int]:
    started = time.perf_counter()
    job = app.sync(folder)
    seconds = time.perf_counter() - started
    record = job.record
    assert record.status == "DONE", job.to_json()
    return seconds, dict(record.sync_counts or {}), record.units_total


def row_state(app: Accessio) -> tuple[Any, ...]:
    with app.engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.max(items.c.updated_at), sa.func.count())).one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="local: where the files are made (kept for later runs)")
    parser.add_argument("--store", choices=("local", "s3"), default="local")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="accessio-sync-bench-"))
    store: LocalStore | S3Store
    if args.store == "local":
        store = LocalStore((args.dir or work / "files").resolve(), args.files)
    else:
        store = S3Store(args.files)
    try:
        store.make()
        print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with Accessio(str(work / "catalog.db")) as app:
            store.integration(app)
            app.create_folder("synced", sync=("store", store.prefix))

            first, counts, actions = timed_sync(app, "synced")
            print(f"first sync: {first:.2f} s, {actions:,} writes ({args.files / first:,.0f} objects/s; {counts})")

            before = row_state(app)
            unchanged, counts, actions = timed_sync(app, "synced")
            assert row_state(app) == before, "an unchanged prefix wrote items"
            assert actions == 0, "an unchanged prefix planned writes"
            print(f"re-sync, nothing changed: {unchanged:.2f} s, {actions} writes")

            ids = {item["uuid"] for item in app.items("synced", limit=args.files)}
            quarter = max(1, args.files // 400)
            step = args.files // (3 * quarter)
            moved = store.change(list(range(0, args.files, step))[: 3 * quarter])
            resync, counts, actions = timed_sync(app, "synced")
            shown = {op: counts.get(op + "Done", 0) for op in ("add", "change", "move", "delete")}
            print(f"re-sync, 1 % changed: {resync:.2f} s, {actions:,} writes ({shown})")
            now = {item["url"]: item["uuid"] for item in app.items("synced", limit=2 * args.files)}
            assert all(now.get(url) in ids for url in moved), "moved items lost their ids"

            started = time.perf_counter()
            listing = listing_of(app.storage("store"), store.prefix)
            listed = time.perf_counter() - started
            print(f"listing alone: {listed:.2f} s ({listing.listed:,} objects)")

            started = time.perf_counter()
            spec = generate(app.storage("store"), store.prefix).spec
            app.create_folder("full")
            job = app.register(spec, folder="full", integration="store")
            full = time.perf_counter() - started
            assert job.status == "DONE", job.to_json(max_errors=3)
            print(f"baseline, full re-registration: {full:.2f} s ({spec.unit_count():,} objects probed)")
        print(f"ratio full re-registration / 1 % re-sync: {full / resync:.1f}x (target >= 10); "
              f"the listing is {listed / resync:.0%} of the re-sync")  # fmt: skip
    finally:
        store.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
