"""Synced folders: a first sync, a re-sync with nothing changed and a re-sync with 1 %
changed, against a full re-registration of the same prefix in the same run.

    .venv/bin/python bench/sync.py [--files 100000] [--dir /tmp/sync-bench]

Makes ``--files`` small JPEGs in a local directory (in ``--dir`` when given; each file
gets a size and modification time of its own), then in a fresh SQLite catalog:

1. ``accessio folder create F --sync`` + a first sync: every object listed, read, probed
   and registered;
2. a re-sync with nothing changed (checked: no item row written);
3. a re-sync after 1 % of the files changed: a quarter added, a quarter rewritten, a
   quarter deleted, a quarter moved to another directory (checked: the moved items keep
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
import asyncio
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from accessio.catalog.schema import items
from accessio.jobs.sync import list_prefix
from accessio.service import Accessio
from accessio.spec.generate import generate


def jpeg_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def make_files(root: Path, count: int) -> None:
    marker = root.parent / f".{root.name}-made-{count}"  # beside the files: a sync would list it
    if marker.exists():
        return
    if root.exists():
        shutil.rmtree(root)
    base = jpeg_bytes(32, 24)
    started = time.perf_counter()
    for n in range(count):
        directory = root / f"d{n // 1000:03d}"
        if n % 1000 == 0:
            directory.mkdir(parents=True)
        path = directory / f"img{n:06d}.jpg"
        path.write_bytes(base + b"\0" * (n % 4096))  # bytes after the end of the JPEG: a size of its own
        os.utime(path, ns=(1_700_000_000_000_000_000 + n * 1000, 1_700_000_000_000_000_000 + n * 1000))
    marker.touch()
    print(f"made {count:,} JPEGs in {time.perf_counter() - started:.1f} s ({root})")


def change_one_percent(root: Path, count: int) -> dict[str, list[Path]]:
    """1 % of the files changed: added, rewritten, deleted and moved, a quarter each."""
    quarter = max(1, count // 400)
    step = count // (4 * quarter)
    picked = [root / f"d{n // 1000:03d}" / f"img{n:06d}.jpg" for n in range(0, count, step)][: 3 * quarter]
    rewritten, deleted, moved = picked[:quarter], picked[quarter : 2 * quarter], picked[2 * quarter :]
    (root / "moved").mkdir(exist_ok=True)
    (root / "added").mkdir(exist_ok=True)
    for path in rewritten:
        path.write_bytes(jpeg_bytes(64, 48))
    for path in deleted:
        path.unlink()
    targets = []
    for path in moved:
        target = root / "moved" / path.name
        path.rename(target)
        targets.append(target)
    added = []
    for n in range(quarter):
        path = root / "added" / f"new{n:05d}.jpg"
        path.write_bytes(jpeg_bytes(40, 30) + b"\0" * n)
        added.append(path)
    return {"rewritten": rewritten, "deleted": deleted, "moved": targets, "added": added}


def timed_sync(app: Accessio, folder: str) -> tuple[float, dict[str, int], int]:
    started = time.perf_counter()
    job = app.sync(folder)
    seconds = time.perf_counter() - started
    record = job.record
    assert record.status == "DONE", job.to_json()
    return seconds, dict(record.sync_counts or {}), record.units_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="Where the files are made (kept for later runs).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="accessio-sync-bench-"))
    root = (args.dir or work / "files").resolve()
    make_files(root, args.files)
    catalog = str(work / "catalog.db")
    try:
        with Accessio(catalog) as app:
            app.add_integration("disk", "local", root=str(root))
            app.create_folder("synced", sync=("disk", root.as_uri()))

            first, counts, actions = timed_sync(app, "synced")
            print(f"first sync: {first:.2f} s, {actions:,} writes ({args.files / first:,.0f} objects/s; {counts})")

            with app.engine.connect() as conn:
                before = conn.execute(sa.select(sa.func.max(items.c.updated_at), sa.func.count())).one()
            unchanged, counts, actions = timed_sync(app, "synced")
            with app.engine.connect() as conn:
                after = conn.execute(sa.select(sa.func.max(items.c.updated_at), sa.func.count())).one()
            assert tuple(before) == tuple(after), "an unchanged prefix wrote items"
            assert actions == 0, "an unchanged prefix planned writes"
            print(f"re-sync, nothing changed: {unchanged:.2f} s, {actions} writes")

            ids = {item["url"]: item["uuid"] for item in app.items("synced", limit=args.files)}
            changed = change_one_percent(root, args.files)
            try:
                resync, counts, actions = timed_sync(app, "synced")
                shown = {op: counts.get(op + "Done", 0) for op in ("add", "change", "move", "delete")}
                print(f"re-sync, 1 % changed: {resync:.2f} s, {actions:,} writes ({shown})")
                now = {item["url"]: item["uuid"] for item in app.items("synced", limit=2 * args.files)}
                kept = sum(now.get(path.as_uri()) in ids.values() for path in changed["moved"])
                assert kept == len(changed["moved"]), "moved items lost their ids"

                started = time.perf_counter()
                listing = asyncio.run(list_prefix(app.storage("disk"), root.as_uri()))
                listed = time.perf_counter() - started
                print(f"listing alone: {listed:.2f} s ({listing.listed:,} objects)")

                started = time.perf_counter()
                spec = generate(app.storage("disk"), root.as_uri()).spec
                app.create_folder("full")
                job = app.register(spec, folder="full", integration="disk")
                full = time.perf_counter() - started
                assert job.status == "DONE", job.to_json(max_errors=3)
                print(f"baseline, full re-registration: {full:.2f} s ({spec.unit_count():,} objects probed)")
            finally:
                for marker in root.parent.glob(f".{root.name}-made-*"):  # changed: the next run makes them again
                    marker.unlink()
        print(f"ratio full re-registration / 1 % re-sync: {full / resync:.1f}x (target >= 10); "
              f"the listing is {listed / resync:.0%} of the re-sync")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
