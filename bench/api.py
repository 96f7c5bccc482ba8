"""The server over HTTP on 127.0.0.1, on a folder of 1,000,000 items (SQLite catalog).

1. ``list_items`` (E24, pages of 100 at random depths, keyset cursors): p50 and p95 at
   concurrency 1 and 16, and requests/s. Targets: p50 < 20 ms, >= 500 requests/s at 16.
2. The same at concurrency 16 while a 500,000-unit job runs in the server.
3. Registering the 500,000-unit spec through the API (E18 + long-poll) against
   ``accessio register`` of the same spec, in the same run. Target: >= 0.8x the CLI.
4. From a job's end (its ``finished_at``) to the long-poll's answer. Target: < 100 ms.

The load comes from a small asyncio HTTP/1.1 client with keep-alive connections (a few
microseconds per request), so the client does not take the cores it measures.

    .venv/bin/python bench/api.py [--items 1000000] [--units 500000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api.live import LiveServer, start_server  # noqa: E402

from accessio.catalog import jobs as job_store  # noqa: E402
from accessio.search.listing import query_items  # noqa: E402
from accessio.service import Accessio  # noqa: E402
from accessio.spec import parse_json  # noqa: E402


def spec_bytes(units: int, root: str, prefix: str) -> bytes:
    images = [
        {
            "objectUrl": f"file://{root}/{prefix}/batch-{i // 1000:04d}/image-{i:07d}.jpg",
            "imageMetadata": {"mimeType": "image/jpeg", "fileSize": 10_000 + i, "width": 1920, "height": 1080},
            "clientMetadata": {"site": ("Algiers", "Oran", "Annaba")[i % 3], "frame": i % 1000},
        }
        for i in range(units)
    ]
    return msgspec.json.encode({"images": images})


class Loader:
    """Keep-alive HTTP/1.1 GETs over raw asyncio streams: latency of each, and the rate."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n"
            "Accept-Encoding: identity\r\n\r\n"
        )
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        return status

    async def run(self, paths: list[str], concurrency: int, seconds: float) -> tuple[list[float], float, int]:
        latencies: list[float] = []
        errors = 0
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                while time.perf_counter() < stop_at:
                    started = time.perf_counter()
                    status = await self._one(reader, writer, random.choice(paths))
                    latencies.append(time.perf_counter() - started)
                    errors += status != 200
            finally:
                writer.close()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - began, errors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(label: str, latencies: list[float], elapsed: float, errors: int) -> dict[str, float]:
    figures = {
        "p50_ms": pct(latencies, 0.50),
        "p95_ms": pct(latencies, 0.95),
        "requests_per_s": len(latencies) / elapsed,
    }
    print(
        f"{label}: {len(latencies):,} requests in {elapsed:.1f} s, {figures['requests_per_s']:.0f} requests/s, "
        f"p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, {errors} errors",
        flush=True,
    )
    return figures


def page_paths(app: Accessio, folder_id: str, total: int, depths: int) -> list[str]:
    """E24 paths at ``depths`` evenly spread depths of the folder (cursors made in process)."""
    paths = [f"/v2/public/storage/folders/{folder_id}/items?pageSize=100&order=name&desc=False"]
    with app.engine.connect() as conn:
        step = max(1, total // depths)
        cursor: str | None = None
        for _ in range(depths - 1):
            page = query_items(conn, folder_id, limit=step, after=cursor)
            cursor = page.next_cursor
            if cursor is None:
                break
            paths.append(f"{paths[0]}&pageToken={cursor}")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=500_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2, help="server processes (section 1 also runs with 1)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="accessio-bench-api-"))
    root = str(work / "media")
    os.makedirs(root)
    catalog = str(work / "catalog.db")
    env = {**os.environ, "ACCESSIO_CATALOG": catalog}

    def cli(*command: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "accessio", *command], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    cli("integration", "add", "media", "--provider", "local", "--root", root)
    cli("user", "add", "bench", "--admin")
    token = cli("token", "create", "bench")

    started = time.perf_counter()
    app = Accessio(catalog)
    app.create_folder("big")
    made = 0
    while made < args.items:  # a spec holds 500,000 units at most
        batch = min(500_000, args.items - made)
        spec = parse_json(spec_bytes(batch, root, f"big{made}"))
        app.start_registration(spec, folder="big", integration="media").run()
        made += batch
    folder = app.folder("big")
    print(f"setup: {made:,} items in folder big in {time.perf_counter() - started:.0f} s", flush=True)
    paths = page_paths(app, folder.id, made, 50)

    spec_file = work / "spec.json"
    spec_file.write_bytes(spec_bytes(args.units, root, "job"))
    results: dict[str, Any] = {}
    if args.workers != 1:  # one server process: Python answers on one core
        single = start_server(catalog, work / "server.log", "--rate-limit", "0")
        one = Loader("127.0.0.1", int(single.url.rsplit(":", 1)[1]), token)
        asyncio.run(one.run(paths, 4, 2.0))
        for concurrency in (1, 16):
            latencies, elapsed, errors = asyncio.run(one.run(paths, concurrency, args.seconds))
            label = f"list_items, 1 worker, concurrency {concurrency}"
            results[f"list_w1_c{concurrency}"] = report(label, latencies, elapsed, errors)
        single.stop()
    workers = ("--workers", str(args.workers))
    limits = ("--rate-limit", "0", "--max-body-mb", "1024")
    server: LiveServer = start_server(catalog, work / "server.log", *limits, *workers)
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    loader = Loader(host, port, token)
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
    try:
        asyncio.run(loader.run(paths, 4, 2.0))  # warm up
        for concurrency in (1, 16):
            latencies, elapsed, errors = asyncio.run(loader.run(paths, concurrency, args.seconds))
            label = f"list_items, {args.workers} workers, concurrency {concurrency}"
            results[f"list_c{concurrency}"] = report(label, latencies, elapsed, errors)

        # 2: lists while a 500,000-unit job runs (the job is cancelled afterwards)
        integration = client.get("/v2/public/cloud-integrations").json()["result"][0]["integrationUuid"]
        envelope = work / "envelope.json"
        envelope.write_bytes(
            b'{"integrationHash": "' + integration.encode() + b'", "externalFiles": ' + spec_file.read_bytes() + b"}"
        )

        def submit(name: str) -> tuple[str, str, float]:
            target = client.post("/v2/public/storage/folders", json={"name": name}).json()["uuid"]
            began = time.perf_counter()
            with envelope.open("rb") as body:
                response = client.post(
                    f"/v2/public/storage/folders/{target}/data-upload-jobs",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
            response.raise_for_status()
            return target, str(response.json()), began

        target, job_id, _ = submit("during")
        while client.get(f"/api/jobs/{job_id}").json()["counts"]["done"] == 0:  # mid-flight: units decoded, written
            time.sleep(0.05)
        before = client.get(f"/api/jobs/{job_id}").json()["counts"]["done"]
        latencies, elapsed, errors = asyncio.run(loader.run(paths, 16, args.seconds))
        done = client.get(f"/api/jobs/{job_id}").json()["counts"]["done"] - before
        results["list_c16_during_job"] = report(
            f"list_items, {args.workers} workers, concurrency 16, while the job runs ({done:,} units written "
            f"meanwhile, {done / elapsed:,.0f}/s: the job rests while requests come, keeping 10 % of the time)",
            latencies,
            elapsed,
            errors,
        )
        client.post(f"/v2/public/storage/folders/{target}/data-upload-jobs/{job_id}/cancel")
        while client.get(f"/api/jobs/{job_id}").json()["state"] == "running":
            time.sleep(0.05)
        latencies, elapsed, errors = asyncio.run(loader.run(paths, 16, args.seconds))
        results["list_c16_after_job"] = report(
            f"list_items, {args.workers} workers, concurrency 16, right after (the job cancelled): the baseline",
            latencies,
            elapsed,
            errors,
        )

        # 3: the same spec through the API, on its own, from the request to the long-poll's DONE
        target, job_id, submitted = submit("api-job")
        print(f"API job accepted in {time.perf_counter() - submitted:.1f} s (spec parsed, job stored)", flush=True)
        while True:
            polled = client.get(
                f"/v2/public/storage/folders/{target}/data-upload-jobs/{job_id}?timeoutSeconds=60"
            ).json()
            if polled["status"] != "PENDING":
                break
        api_seconds = time.perf_counter() - submitted
        assert polled["status"] == "DONE", polled["status"]
        api_rate = args.units / api_seconds
        print(f"API registration: {args.units:,} units in {api_seconds:.1f} s, {api_rate:,.0f} units/s", flush=True)
    finally:
        client.close()
        server.stop()

    cli("folder", "create", "cli-job")
    began = time.perf_counter()
    cli("register", str(spec_file), "--folder", "cli-job", "--integration", "media")
    cli_seconds = time.perf_counter() - began
    cli_rate = args.units / cli_seconds
    print(f"CLI registration: {args.units:,} units in {cli_seconds:.1f} s, {cli_rate:,.0f} units/s", flush=True)
    print(f"API / CLI: {api_rate / cli_rate:.2f}x", flush=True)

    # 4: from a job's end to the long-poll's answer
    server = start_server(catalog, work / "server.log", "--rate-limit", "0", *workers)
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    delays = []
    try:
        target = client.post("/v2/public/storage/folders", json={"name": "polls"}).json()["uuid"]
        for n in range(20):
            body = {"integrationHash": integration, "externalFiles": json.loads(spec_bytes(1, root, f"poll{n}"))}
            job_id = client.post(f"/v2/public/storage/folders/{target}/data-upload-jobs", json=body).json()
            client.get(f"/v2/public/storage/folders/{target}/data-upload-jobs/{job_id}?timeoutSeconds=30")
            answered = datetime.now(UTC)
            with app.engine.connect() as conn:
                finished = job_store.get(conn, job_id).finished_at
            assert finished is not None
            delays.append((answered - finished).total_seconds())
    finally:
        client.close()
        server.stop()
    print(
        f"long-poll answer after the job's end: p50 {pct(delays, 0.5):.1f} ms, max {max(delays) * 1000:.1f} ms "
        f"(20 one-unit jobs; includes the job's last commit to the answer's arrival)",
        flush=True,
    )
    print(f"median of all list p50s: {statistics.median(r['p50_ms'] for r in results.values()):.1f} ms")
    app.close()


if __name__ == "__main__":
    main()
