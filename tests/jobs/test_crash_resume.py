"""A registering process killed with SIGKILL at several points; ``jobs resume`` finishes
the job with every unit registered exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from accessio.catalog.schema import items
from accessio.service import Accessio, Job

UNITS = 10_000


def accessio(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "accessio", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_for_progress(job: Job, process: subprocess.Popen[bytes], above: int) -> int:
    """Poll until more units are done than ``above`` (or the process ended)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = job.counts()["done"]
        if done > above or process.poll() is not None:
            return done
        time.sleep(0.005)
    raise AssertionError("the job made no progress in 60 s")


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    urls = []
    for n in range(UNITS):
        path = media / f"{n:05d}.jpg"
        path.write_bytes(b"x" * (n % 97 + 1))
        urls.append(path.as_uri())
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode({"images": [{"objectUrl": u} for u in urls]}))
    catalog = str(tmp_path / "catalog.db")
    env = {**os.environ, "ACCESSIO_CATALOG": catalog}
    app = Accessio(catalog)
    app.add_integration("media", "local", root=str(media))
    app.create_folder("crash")

    partial_states = 0
    rnd = random.Random(11)
    process = accessio("register", str(spec), "--folder", "crash", "--integration", "media", env=env)
    deadline = time.monotonic() + 60
    while not app.jobs() and time.monotonic() < deadline:  # the job and its units are stored first
        time.sleep(0.01)
    (job,) = app.jobs()
    done = 0
    for _ in range(4):
        # let a chunk land, then kill at a random moment of the next one
        wait_for_progress(job, process, done)
        time.sleep(rnd.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        done = job.counts()["done"]
        partial_states += 0 < done < UNITS
        process = accessio("jobs", "resume", job.id, env=env)
    assert process.wait(timeout=120) == 0
    assert partial_states >= 1, "no kill landed while the job was running"

    shown = job.to_json()
    assert shown["status"] == "DONE"
    assert shown["counts"]["created"] == UNITS
    with app.engine.connect() as conn:
        rows = conn.execute(sa.select(items.c.url)).scalars().all()
    assert len(rows) == UNITS
    assert sorted(rows) == sorted(urls)
