"""Syncs in real processes: ``accessio sync`` killed with SIGKILL in the middle and run
again, and two ``accessio sync`` of one folder started at once (no item twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from accessio.catalog.schema import items, jobs
from accessio.service import Accessio
from tests.samples import jpeg_bytes


def make_files(root: Path, count: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (root / f"{n // 1000:02d}" / f"f{n:05d}.jpg").parent.mkdir(exist_ok=True)
        (root / f"{n // 1000:02d}" / f"f{n:05d}.jpg").write_bytes(jpeg_bytes(8 + n % 50, 8))


def setup(catalog: str, root: Path) -> None:
    with Accessio(catalog) as app:
        app.add_integration("disk", "local", root=str(root))
        app.create_folder("synced", sync=("disk", root.as_uri()))


def sync_command(catalog: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "accessio", "sync", "synced", "--catalog", catalog, *extra]


def item_urls(catalog: str) -> list[str]:
    with Accessio(catalog) as app, app.engine.connect() as conn:
        return list(conn.execute(sa.select(items.c.url).where(items.c.is_tombstone.is_(sa.false()))).scalars())


def test_a_sync_killed_in_the_middle_finishes_when_run_again(catalog_url: str, tmp_path: Path) -> None:
    root = tmp_path / "media"
    make_files(root, 6_000)
    setup(catalog_url, root)
    engine = sa.create_engine(catalog_url if "://" in catalog_url else f"sqlite:///{catalog_url}")
    log = tmp_path / "sync.log"
    with log.open("wb") as output:
        process = subprocess.Popen(sync_command(catalog_url), stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(sa.select(jobs.c.status, jobs.c.next_unit, jobs.c.units_total)).first()
            if row is not None and row.next_unit > 0:
                break
            assert process.poll() is None, log.read_text()
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    with engine.connect() as conn:
        killed = conn.execute(sa.select(jobs.c.status, jobs.c.next_unit, jobs.c.units_total)).one()
    engine.dispose()
    assert killed.status == "PENDING", "the sync ended before it could be killed"
    assert 0 < killed.next_unit < killed.units_total == 6_000

    again = subprocess.run(
        sync_command(catalog_url, "--json"), capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr
    shown = json.loads(again.stdout)
    assert shown["status"] == "DONE"
    urls = item_urls(catalog_url)
    assert len(urls) == len(set(urls)) == 6_000


def test_two_syncs_of_one_folder_at_once_register_each_object_once(catalog_url: str, tmp_path: Path) -> None:
    root = tmp_path / "media"
    make_files(root, 2_000)
    setup(catalog_url, root)
    both = [subprocess.Popen(sync_command(catalog_url, "--json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]  # fmt: skip
    results = [process.communicate(timeout=300) for process in both]
    for process, (_, stderr) in zip(both, results, strict=True):
        assert process.returncode == 0, stderr
    shown = [json.loads(stdout) for stdout, _ in results]
    assert all(job["status"] == "DONE" for job in shown)
    urls = item_urls(catalog_url)
    assert len(urls) == len(set(urls)) == 2_000
    # one sync did the work: the other was the same sync, or a later one that found nothing to do
    added = [job["syncCounts"].get("addDone", 0) for job in {job["id"]: job for job in shown}.values()]
    assert sorted(added)[-1] == 2_000
    assert sum(added) == 2_000
