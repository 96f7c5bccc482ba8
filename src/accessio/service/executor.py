"""The server's background executor: it works registration jobs beside the requests.

- A job is stored with the server's lease on it (so it is never seen as interrupted
  while queued), then worked: small jobs (under ``process_at`` units) in a thread of
  the server, large ones in a worker process of their own (``python -m
  accessio.service.worker``) started at a lower CPU priority (``nice``), so that a
  500,000-unit job does not take the cores requests need. Both are bounded.
- A worker process takes the job's lease over from the server and renews it itself:
  if the server dies, the worker finishes the job (a restarted server sees a live
  lease and leaves it alone).
- Shutdown asks every running job to stop at its next chunk boundary and waits for
  it; the jobs stay PENDING and are resumed by the next start. At start, and every
  ``LEASE_S`` seconds, the executor takes up PENDING jobs whose lease ran out (their
  process died); one taken up ``MAX_ATTEMPTS`` times after such deaths ends ERROR.
- Requests first: every job, in a thread or a process, rests between chunks while
  the server's processes answer requests (:mod:`accessio.service.activity`).
- Waiters (the long-poll) are woken when a job of this process ends or is cancelled;
  a job another process works (another worker of the server, a CLI) is watched by
  reading the catalog every 50 ms (a job nobody holds, every second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa

from accessio.catalog import jobs as job_store
from accessio.catalog.jobs import FINAL, LEASE_S
from accessio.catalog.schema import jobs
from accessio.service.activity import ActivityBoard, Pacer
from accessio.service.app import Accessio

log = logging.getLogger("accessio.executor")

MAX_ATTEMPTS = 3  # takes of a job after its process died before it ends ERROR


@dataclass(frozen=True)
class ExecutorSettings:
    threads: int = 2  # small jobs at once, in the server process
    processes: int = 1  # large jobs at once, each in a worker process
    process_at: int = 2_000  # units from which a job gets a process of its own
    nice: int = 19  # how much lower the worker processes' CPU priority is (the lowest: jobs take idle CPU)
    stop_timeout_s: float = 120.0  # how long shutdown waits for jobs to reach a chunk boundary
    busy_share: float = 0.1  # the share of time a job keeps while the server answers requests (activity.py)
    kind: str = "local"  # "celery": jobs are handed to `accessio worker`s (accessio.cluster.executor)
    broker_url: str | None = None  # celery: the broker (else $ACCESSIO_BROKER_URL)
    queue: str | None = None  # celery: the workers' queue (else $ACCESSIO_QUEUE, else "accessio")


class Executor:
    """Works this server's jobs (see the module docstring)."""

    def __init__(self, app: Accessio, settings: ExecutorSettings | None = None) -> None:
        self.app = app
        self.settings = settings or ExecutorSettings()
        self.holder = app.holder
        self._stop = threading.Event()
        self._threads = ThreadPoolExecutor(self.settings.threads, thread_name_prefix="accessio-job")
        self._thread_slots = asyncio.Semaphore(self.settings.threads)
        self._process_slots = asyncio.Semaphore(self.settings.processes)
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._working: set[str] = set()
        self._waiters: dict[str, asyncio.Event] = {}
        self._background: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.activity = ActivityBoard.for_catalog(app.catalog)  # the requests of every process serving it

    # lifecycle

    async def start(self) -> None:
        """Resume what needs resuming, then keep the server's leases alive."""
        self._loop = asyncio.get_running_loop()
        await self._take_up_interrupted()
        self._background = [asyncio.create_task(self._heartbeat(), name="accessio-heartbeat")]

    async def stop(self) -> None:
        """Ask every job to stop at its next chunk boundary and wait for them (bounded)."""
        self._stop.set()
        for task in self._background:
            task.cancel()
        for process in self._processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=self.settings.stop_timeout_s)
            for task in pending:
                task.cancel()
            for process in self._processes.values():
                if process.returncode is None:
                    process.kill()
        self._threads.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self._release_queued)

    def _release_queued(self) -> None:
        """Leases this server still holds (jobs queued, never started here) are given back."""
        with self.app.engine.begin() as conn:
            conn.execute(
                jobs.update().where(jobs.c.lease_holder == self.holder).values(lease_holder=None, lease_expires_at=None)
            )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            try:
                await asyncio.to_thread(self._renew)
                await self._take_up_interrupted()
            except sa.exc.SQLAlchemyError as exc:
                log.warning("executor heartbeat failed: %s", exc)

    def _renew(self) -> None:
        with self.app.engine.begin() as conn:
            job_store.renew_leases(conn, self.holder)

    async def _take_up_interrupted(self) -> None:
        found = await asyncio.to_thread(self._interrupted)
        for job_id, units_total in found:
            self.submit(job_id, units_total)

    def _interrupted(self) -> list[tuple[str, int]]:
        """PENDING jobs nobody works: leased to this server, or taken from a dead process."""
        taken: list[tuple[str, int]] = []
        with self.app.engine.connect() as conn:
            candidates = [job for job in job_store.unleased(conn) if job.id not in self._working]
        for job in candidates:
            try:
                with self.app.engine.begin() as conn:
                    record = job_store.acquire_lease(conn, job.id, self.holder)
                    if record.attempts >= MAX_ATTEMPTS:
                        self._give_up(conn, record)
                        continue
            except job_store.JobBusy:
                continue
            taken.append((record.id, record.units_total))
        return taken

    def _give_up(self, conn: sa.Connection, record: job_store.JobRecord) -> None:
        log.error("job %s: its process died %d times; it ends ERROR", record.id, record.attempts)
        job_store.set_status(conn, record.id, "ERROR", finished=True)
        job_store.release_lease(conn, record.id, self.holder)

    # work

    def _on_loop(self) -> bool:
        """Whether the caller runs on the executor's event loop (else it is a request thread)."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def submit(self, job_id: str, units_total: int) -> None:
        """Work a job this server holds the lease of (stored with ``lease_holder=holder``);
        callable from the event loop or from a request thread."""
        if self._loop is not None and not self._on_loop():
            self._loop.call_soon_threadsafe(self.submit, job_id, units_total)
            return
        if self._stop.is_set() or job_id in self._working:
            return
        self._working.add(job_id)
        use_process = units_total >= self.settings.process_at
        task = asyncio.create_task(self._work(job_id, use_process), name=f"accessio-job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, job_id: str, use_process: bool) -> None:
        try:
            if use_process:
                async with self._process_slots:
                    if not self._stop.is_set():
                        await self._in_process(job_id)
            else:
                async with self._thread_slots:
                    if not self._stop.is_set():
                        loop = asyncio.get_running_loop()
                        await loop.run_in_executor(self._threads, self._in_thread, job_id)
        except Exception:
            log.exception("job %s stopped on an error", job_id)
        finally:
            self._working.discard(job_id)
            self.notify(job_id)

    def _in_thread(self, job_id: str) -> None:
        try:
            pace = Pacer(self.activity, share=self.settings.busy_share) if self.activity else None
            self.app.job(job_id).run(stop=self._stop, pace=pace)
        except job_store.JobBusy as exc:
            log.info("job %s: %s", job_id, exc.message)
        except Exception as exc:
            log.exception("job %s stopped on an error", job_id)
            with self.app.engine.begin() as conn:
                record = job_store.get(conn, job_id)
                if record.status not in FINAL and not self._stop.is_set():
                    job_store.set_status(conn, job_id, "ERROR", finished=True)
                    log.error("job %s ends ERROR: %s: %s", job_id, type(exc).__name__, exc)

    async def _in_process(self, job_id: str) -> None:
        env = {**os.environ, "ACCESSIO_CATALOG": self.app.catalog, "ACCESSIO_TAKE_OVER": self.holder}
        if self.activity is not None:
            env |= {"ACCESSIO_ACTIVITY": str(self.activity.path), "ACCESSIO_BUSY_SHARE": str(self.settings.busy_share)}
        nice = self.settings.nice

        def lower_priority() -> None:
            os.nice(nice)
            if nice >= 19 and hasattr(os, "SCHED_IDLE"):  # Linux: run only on a CPU nothing else wants
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "accessio.service.worker",
            job_id,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=lower_priority if nice else None,
        )
        self._processes[job_id] = process
        try:
            code = await process.wait()
        finally:
            self._processes.pop(job_id, None)
        if code != 0 and not self._stop.is_set():
            log.error("job %s: its worker process exited with code %s; it is taken up again", job_id, code)

    # waiting

    def notify(self, job_id: str) -> None:
        """Wake whoever waits on the job (it ended, or was cancelled); callable from any thread."""
        if self._loop is not None and not self._on_loop():
            self._loop.call_soon_threadsafe(self.notify, job_id)
            return
        event = self._waiters.pop(job_id, None)
        if event is not None:
            event.set()

    async def wait(self, job_id: str, timeout_s: float) -> job_store.JobRecord:
        """The job once it ended, or as it is after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while True:
            # the event first: a job that ends while its record is read still wakes us
            event = self._waiters.setdefault(job_id, asyncio.Event())
            record = await asyncio.to_thread(self._record, job_id)
            remaining = deadline - time.monotonic()
            if record.status in FINAL or remaining <= 0:
                return record
            # this process's jobs wake their waiters; another process's are read for
            # (another worker of the same server: every 50 ms; a CLI's: every second)
            step = 1.0 if job_id in self._working or record.lease_holder is None else 0.05
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, step))

    def _record(self, job_id: str) -> job_store.JobRecord:
        with self.app.engine.connect() as conn:
            return job_store.get(conn, job_id)
