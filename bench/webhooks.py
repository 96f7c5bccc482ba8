"""What webhooks cost: a job's end with and without webhooks, and sending deliveries.

1. A job's end (``catalog.jobs.set_status(..., "DONE", finished=True)``, one transaction
   per job, as jobs end) on a SQLite catalog, against the baseline measured in the same
   run: the bare ``UPDATE jobs`` the end was before webhooks. Three cases: no webhook in
   the catalog; 20 webhooks of other folders (none matches); 20 webhooks of which 2
   match (two deliveries enqueued per end).
2. Sending ``--deliveries`` deliveries to a receiver on loopback (``http.server``, a
   thread per connection) from one process (``Deliverer``: claim, signed POST through
   the guarded client, record), against the baseline of the same number of POSTs of
   the same bodies through a plain ``httpcore`` pool with the same concurrency (no
   catalog, no address check, no signature).

    .venv/bin/python bench/webhooks.py [--jobs 2000] [--deliveries 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import sqlalchemy as sa

from accessio.catalog import jobs as job_store
from accessio.catalog.schema import jobs, webhook_deliveries
from accessio.service import Accessio
from accessio.service.webhooks import Deliverer, WebhookSettings


def _jobs(app: Accessio, folder_id: str, integration_id: str, count: int) -> list[str]:
    with app.engine.begin() as conn:
        return [
            job_store.create(
                conn, folder_id=folder_id, integration_id=integration_id, file_name=None, ignore_errors=False,
                skip_duplicate_urls=False, upsert_metadata=False, units=b"", units_total=0,
            ).id
            for _ in range(count)
        ]  # fmt: skip


def _per_end_us(app: Accessio, ids: list[str], end: Callable[[sa.Connection, str], None]) -> float:
    """Microseconds per job end, each in its own transaction."""
    start = time.perf_counter()
    for job_id in ids:
        with app.engine.begin() as conn:
            end(conn, job_id)
    return (time.perf_counter() - start) / len(ids) * 1e6


def bare_update(conn: sa.Connection, job_id: str) -> None:
    now = datetime.now(UTC)
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(status="DONE", finished_at=now))


def with_webhooks(conn: sa.Connection, job_id: str) -> None:
    job_store.set_status(conn, job_id, "DONE", finished=True)


def _webhooks_for(app: Accessio, case: str, others: list[str]) -> None:
    with app.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM webhook_deliveries"))
        conn.execute(sa.text("DELETE FROM webhooks"))
    if case == "no webhook":
        return
    for folder_id in others[:20] if case.endswith("none matching") else others[:18]:
        app.webhooks.add("https://93.184.216.34/hook", folder=_path(app, folder_id))
    if case.endswith("2 matching"):
        app.webhooks.add("https://93.184.216.34/a", folder="cars")
        app.webhooks.add("https://93.184.216.34/b")


def job_ends(directory: Path, count: int, rounds: int = 10) -> None:
    """The cases take turns, ``rounds`` times, so that a machine whose load drifts slows
    them alike; each figure is the median of its rounds."""
    app = Accessio(str(directory / "ends.db"))
    integration = app.add_integration("media", "local", root=str(directory)).id
    folder = app.create_folder("cars/day").id
    others = [app.create_folder(f"other{n}").id for n in range(20)]
    cases = ["baseline: the bare UPDATE", "no webhook", "20 webhooks, none matching", "20 webhooks, 2 matching"]
    per_round = max(1, count // rounds)
    times: dict[str, list[float]] = {case: [] for case in cases}
    enqueued: dict[str, int] = dict.fromkeys(cases, 0)
    for _ in range(rounds):
        for case in cases:
            _webhooks_for(app, case if case in cases[1:] else "no webhook", others)
            ids = _jobs(app, folder, integration, per_round)
            end = bare_update if case == cases[0] else with_webhooks
            times[case].append(_per_end_us(app, ids, end))
            with app.engine.connect() as conn:
                enqueued[case] += conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)).scalar_one()
    print(f"a job's end, one transaction each: {rounds} rounds of {per_round:,} jobs per case, medians (SQLite):")
    baseline = statistics.median(times[cases[0]])
    for case in cases:
        took = statistics.median(times[case])
        print(f"  {case:36} {took:8.1f} us  x{took / baseline:.2f}  ({enqueued[case]:,} deliveries enqueued)")
    app.close()


def _path(app: Accessio, folder_id: str) -> str:
    return next(f.path for f in app.folders() if f.id == folder_id)


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def sending(directory: Path, count: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    app = Accessio(str(directory / "send.db"))
    integration = app.add_integration("media", "local", root=str(directory)).id
    folder = app.create_folder("cars").id
    app.webhooks.add(url, folder="cars", allow_private_network=True)
    ids = _jobs(app, folder, integration, count)
    with app.engine.begin() as conn:
        for job_id in ids:
            job_store.set_status(conn, job_id, "DONE", finished=True)
        bodies = [row[0].encode() for row in conn.execute(sa.select(webhook_deliveries.c.payload))]
    settings = WebhookSettings()
    pool = httpcore.ConnectionPool(max_connections=settings.concurrency)

    def plain(body: bytes) -> int:
        headers = [(b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode())]
        return pool.request("POST", url, headers=headers, content=body).status

    start = time.perf_counter()
    with ThreadPoolExecutor(settings.concurrency) as threads:
        assert set(threads.map(plain, bodies)) == {200}
    baseline = time.perf_counter() - start
    pool.close()
    deliverer = Deliverer(app.engine, settings)
    start = time.perf_counter()
    report = deliverer.deliver_due()
    took = time.perf_counter() - start
    deliverer.close()
    assert report.delivered == count, report
    print(f"sending {count:,} deliveries to a receiver on loopback, {settings.concurrency} at once (SQLite):")
    print(f"  baseline: plain httpcore POSTs       {count / baseline:8.0f} /s")
    print(f"  Deliverer (claim, sign, record)      {count / took:8.0f} /s  {took / baseline:.1f}x the baseline's time")
    server.shutdown()
    server.server_close()
    app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--deliveries", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="accessio-bench-webhooks-") as directory:
        job_ends(Path(directory), args.jobs)
        sending(Path(directory), args.deliveries)


if __name__ == "__main__":
    main()
