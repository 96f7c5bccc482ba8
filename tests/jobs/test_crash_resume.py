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
from tests.samples import jpeg_bytes

from accessio.catalog.schema import items
from accessio.service import Accessio, Job
from accessio.spec import Image, UploadSpec

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
        path.write_bytes(jpeg_bytes(8 + n % 7, 8))
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


WORKER = """
import sys
from accessio.jobs.runner import run_job
from accessio.service import Accessio

app = Accessio(sys.argv[1])
job = app.job(sys.argv[2])
run_job(app.engine, job.id, app.storage("media"), "server", chunk_units=2000)
"""


def writer_processes(catalog: str) -> list[int]:
    """Writer processes (``python -m accessio.jobs.writer``) of this catalog still running."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"accessio.jobs.writer" in command and any(catalog.encode() in part for part in command):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_sigkill_while_a_writer_process_writes_then_resume(tmp_path: Path) -> None:
    """Large jobs on SQLite are written by a process of their own. Killing the runner
    leaves that process to finish the chunk it holds (whole or not at all) and exit;
    ``jobs resume`` then registers every unit exactly once."""
    units = 40_000
    media = tmp_path / "media"
    media.mkdir()
    meta = {"mimeType": "image/jpeg", "fileSize": 10, "width": 4, "height": 4}
    urls = [f"{media.as_uri()}/{n:05d}.jpg" for n in range(units)]
    spec = UploadSpec(images=[msgspec.convert({"objectUrl": u, "imageMetadata": meta}, Image) for u in urls])
    catalog = str(tmp_path / "catalog.db")
    env = {**os.environ, "ACCESSIO_CATALOG": catalog}
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    app = Accessio(catalog)
    app.add_integration("media", "local", root=str(media))
    app.create_folder("crash")
    job = app.start_registration(spec, folder="crash", integration="media")

    rnd = random.Random(5)
    done = 0
    kills_mid_job = 0
    for _ in range(4):
        process = subprocess.Popen([sys.executable, str(worker), catalog, job.id], env=env)
        done = wait_for_progress(job, process, done)
        time.sleep(rnd.uniform(0, 0.1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 30
        while writer_processes(catalog) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer_processes(catalog) == [], "the writer process outlived its runner"
        done = job.counts()["done"]
        kills_mid_job += 0 < done < units
    assert kills_mid_job >= 1, "no kill landed while the job was running"
    resume = accessio("jobs", "resume", job.id, env=env)
    assert resume.wait(timeout=120) == 0

    assert job.status == "DONE"
    assert job.counts()["created"] == units
    with app.engine.connect() as conn:
        rows = conn.execute(sa.select(items.c.url)).scalars().all()
    assert sorted(rows) == urls
    app.close()
