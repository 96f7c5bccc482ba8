"""Probe benchmark: bytes, requests and objects/s per format, against downloading each object whole.

    .venv/bin/python bench/probe.py [--objects 2000] [--concurrency 1 32]

Makes the media corpus at benchmark scale (videos of several MB), starts moto's S3
server in its own process on 127.0.0.1 (so its CPU does not compete with the probes'
threads), uploads ``--objects`` objects (the corpus's valid files repeated under
different keys) and reads them through ``accessio.storage`` with an s3Compatible
integration: first probing (``probe(storage.reader(url), kind)``), then the baseline,
which downloads each object whole in one GET and probes it from memory. Prints one
row per format, then the totals for the whole mix, videos and images.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.media import Entry, build_corpus

from accessio.probe import block_size_for, probe
from accessio.storage import Integration, Provider, Storage, open_storage

BUCKET = "bench-media"
# moto answers a ranged GET by copying the whole object out of a temporary file (objects
# over 5 MB are spooled to disk) and slicing the copy, so on stock moto a 64 KiB range of
# a 15 MB video costs as much as the whole video: S3 does not behave so. The server
# process keeps objects in memory and hands out the stored bytes without a copy, so a
# range costs what its length costs; the whole-object baseline gains from it too.
MOTO_SERVER = """
import io, sys
from moto.s3 import models

def value(self):
    with self.lock:
        inner = getattr(self._value_buffer, "_file", None)
        if isinstance(inner, io.BytesIO):
            return inner.getvalue()  # shares the buffer, no copy
        self._value_buffer.seek(0)
        return self._value_buffer.read()

models.FakeKey.value = property(value, models.FakeKey.value.fset)
from moto.server import main
main(sys.argv[1:])
"""


@dataclass(frozen=True)
class Target:
    url: str
    kind: str
    format: str
    size: int


@dataclass(frozen=True)
class Cost:
    requests: int
    bytes_read: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-c", MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)]
    environment = {**os.environ, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1 << 30)}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto server did not start")


def upload(endpoint: str, corpus: list[Entry], count: int) -> list[Target]:
    import boto3  # noqa: PLC0415 - a test extra

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench")  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    bodies = {entry.name: entry.path.read_bytes() for entry in corpus}
    targets = []
    for index in range(count):
        entry = corpus[index % len(corpus)]
        key = f"media/{index:05d}/{entry.path.name}"
        targets.append(Target(f"{endpoint}/{BUCKET}/{key}", entry.kind, entry.name, len(bodies[entry.name])))

    def put(target: Target) -> None:
        key = target.url.split(f"/{BUCKET}/", 1)[1]
        client.put_object(Bucket=BUCKET, Key=key, Body=bodies[target.format])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, targets))
    return targets


def probe_ranged(storage: Storage, target: Target) -> Cost:
    reader = storage.reader(target.url, block_size=block_size_for(target.kind))
    probe(reader, target.kind, url=target.url)
    return Cost(reader.requests, reader.bytes_read)


def probe_downloaded(storage: Storage, target: Target) -> Cost:
    data = storage.reader(target.url, block_size=1 << 34).read()  # one GET for the whole object
    probe(io.BytesIO(data), target.kind, url=target.url)
    return Cost(1, len(data))


def timed(work: Callable[[Storage, Target], Cost], storage: Storage, targets: list[Target], workers: int,
          ) -> tuple[float, list[Cost]]:  # fmt: skip
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        costs = list(pool.map(lambda t: work(storage, t), targets))
    return time.perf_counter() - started, costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        corpus = [e for e in build_corpus(Path(tmp), scale="bench") if e.group == "valid"]
        print(f"corpus: {len(corpus)} files made in {time.perf_counter() - started:.1f} s")
        process, endpoint = start_moto()
        try:
            targets = upload(endpoint, corpus, args.objects)
            total = sum(t.size for t in targets)
            print(f"uploaded {len(targets):,} objects, {total / 1e9:.2f} GB, to moto at {endpoint}")
            os.environ.update(BENCH_ACCESS_KEY_ID="bench", BENCH_SECRET_ACCESS_KEY="bench")
            integration = Integration("bench", Provider.S3_COMPATIBLE, endpoint=endpoint, credentials="env:BENCH",
                                      allow_private_network=True)  # fmt: skip
            with open_storage(integration) as storage:
                report(storage, targets, args.concurrency)
        finally:
            process.terminate()
            process.wait(10)
    return 0


def report(storage: Storage, targets: list[Target], concurrency: list[int]) -> None:
    groups: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        groups[target.format].append(target)
    rates: dict[tuple[str, str, int], float] = {}
    for group in groups.values():  # warm up: connections, signing, imports
        probe_ranged(storage, group[0])
    head = f"{'format':18} {'n':>4} {'size':>9} {'read med':>9} {'read max':>9} {'req':>5}"
    head += "".join(f" {'probe/s c' + str(c):>11} {'whole/s c' + str(c):>11} {'x':>6}" for c in concurrency)
    print(head)
    for name, group in groups.items():
        line = ""
        costs: list[Cost] = []
        for workers in concurrency:
            seconds, costs = timed(probe_ranged, storage, group, workers)
            whole, _ = timed(probe_downloaded, storage, group, workers)
            rates[(name, "probe", workers)], rates[(name, "whole", workers)] = seconds, whole
            line += f" {len(group) / seconds:11.0f} {len(group) / whole:11.0f} {whole / seconds:5.1f}x"
        read = [c.bytes_read for c in costs]
        requests = max(c.requests for c in costs)
        size = statistics.median(t.size for t in group)
        print(f"{name:18} {len(group):4} {_kb(size):>9} {_kb(statistics.median(read)):>9} {_kb(max(read)):>9} "
              f"{requests:5}{line}")  # fmt: skip
    for label, keep in (("all", lambda t: True), ("videos", lambda t: t.kind == "video"),
                        ("images", lambda t: t.kind == "image")):  # fmt: skip
        chosen = {t.format for t in targets if keep(t)}
        count = sum(len(groups[f]) for f in chosen)
        for workers in concurrency:
            probing = sum(rates[(f, "probe", workers)] for f in chosen)
            whole = sum(rates[(f, "whole", workers)] for f in chosen)
            print(f"{label} ({count} objects), concurrency {workers}: probing {count / probing:,.0f} objects/s, "
                  f"whole download {count / whole:,.0f} objects/s, {whole / probing:.1f}x")  # fmt: skip


def _kb(value: float) -> str:
    return f"{value / 1024:,.0f} KiB" if value < 10 * 1024 * 1024 else f"{value / 1048576:,.1f} MiB"


if __name__ == "__main__":
    raise SystemExit(main())
