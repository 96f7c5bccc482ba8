"""``accessio worker``: a Celery worker that works registration chunks.

Each worker process (a Celery pool process) is a holder of chunk leases (``host/pid/token``):
it claims a chunk in the catalog when its message arrives, works it like the in-process
runner works a chunk (checks, duplicate lookups, reads, rows), and writes it in one
transaction that also marks the chunk done under its claim and adds to the job's counters
(:func:`accessio.jobs.writer.write_chunk`). Then it ends the job or sends its next chunk
(:func:`accessio.catalog.chunks.after_chunk`).

A heartbeat thread per process beats in ``workers`` (``accessio worker ls``), renews the
lease of the chunk in work, and sweeps: chunks of dead processes and lost messages are
sent again (:func:`accessio.catalog.chunks.sweep`).

Settings come from the environment (the pool processes inherit it): ``ACCESSIO_CATALOG``,
``ACCESSIO_BROKER_URL``, ``ACCESSIO_WORKER_BEAT_S`` (the heartbeat, 10 s; a chunk's
lease is three beats) and ``ACCESSIO_RESEND_S`` (a chunk sent this long ago that no
worker took is sent again, 600 s).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any

import msgspec
import sqlalchemy as sa
from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from accessio.catalog import chunks as chunk_store
from accessio.catalog import jobs as job_store
from accessio.cluster.broker import BrokerUnreachable, ChunkSender, broker_url, make_celery, task_options
from accessio.cluster.handoff import require_postgres
from accessio.jobs.runner import prepare_alone
from accessio.jobs.units import decode_units
from accessio.jobs.writer import write_chunk
from accessio.service.app import Accessio
from accessio.spec.model import Unit

log = logging.getLogger("accessio.worker")

MAX_CLAIMS = 5  # claims of one chunk (its processes died or failed on it) before its job ends ERROR
NODE_VARIABLE = "ACCESSIO_WORKER_NODE"
QUEUES_VARIABLE = "ACCESSIO_WORKER_QUEUES"


class _Process:
    """What one worker process keeps: its catalog, its name, its heartbeat, decoded units."""

    def __init__(self, celery: Celery) -> None:
        self.app = Accessio(os.environ.get("ACCESSIO_CATALOG"))
        require_postgres(self.app.engine)
        self.holder = job_store.lease_holder_id()
        self.node = os.environ.get(NODE_VARIABLE) or socket.gethostname()
        self.queues = os.environ.get(QUEUES_VARIABLE, "")
        self.beat_s = float(os.environ.get("ACCESSIO_WORKER_BEAT_S", "10"))
        self.lease_s = 3 * self.beat_s
        self.resend_s = float(os.environ.get("ACCESSIO_RESEND_S", "600"))
        self.sender = ChunkSender(broker_url(), celery)
        self.current: tuple[str, int] | None = None
        self.done = 0
        self.unsent: list[tuple[str, int, str]] = []  # chunks to send once the broker is back
        self._units: OrderedDict[str, list[Unit]] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat()
        self._thread = threading.Thread(target=self._heartbeat, name="accessio-worker-beat", daemon=True)
        self._thread.start()

    def units(self, job_id: str) -> list[Unit]:
        """A job's units, decoded once per process (a few jobs kept)."""
        if job_id not in self._units:
            with self.app.engine.connect() as conn:
                self._units[job_id] = decode_units(job_store.stored_units(conn, job_id))
            while len(self._units) > 4:
                self._units.popitem(last=False)
        self._units.move_to_end(job_id)
        return self._units[job_id]

    def _beat(self) -> None:
        with self._lock:
            current, done, self.done = self.current, self.done, 0
        try:
            with self.app.engine.begin() as conn:
                chunk_store.beat(conn, self.holder, self.node, self.queues, self.lease_s, current=current, done=done)
        except Exception:
            with self._lock:
                self.done += done
            raise

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.beat_s):
            try:
                self._beat()
                with self._lock:
                    unsent, self.unsent = self.unsent, []
                for job_id, index, queue in unsent:
                    self.send(job_id, [(index, queue)])
                with self.app.engine.begin() as conn:
                    again = chunk_store.sweep(conn, self.resend_s)
                for job_id, index, queue in again:
                    log.warning("chunk %d of job %s is sent again (its worker died, or its message was lost)",
                                index, job_id)  # fmt: skip
                    self.send(job_id, [(index, queue)])
            except Exception as exc:  # the catalog or the broker is away: the next beat tries again
                log.warning("worker heartbeat failed: %s", type(exc).__name__)

    def send(self, job_id: str, chunks: list[tuple[int, str]]) -> None:
        """Send chunks; while the broker is away they wait here for the next beat."""
        try:
            self.sender.send(job_id, chunks)
        except BrokerUnreachable:
            log.warning("the broker is away: %d chunk(s) of job %s are sent at a later beat", len(chunks), job_id)
            with self._lock:
                self.unsent.extend((job_id, index, queue) for index, queue in chunks)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            with self.app.engine.begin() as conn:
                chunk_store.sign_off(conn, self.holder)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("signing off failed: %s", type(exc).__name__)
        self.app.close()


_PROCESS: _Process | None = None
_CELERY: Celery | None = None


def _process() -> _Process:
    global _PROCESS  # noqa: PLW0603  (one per pool process, made when it starts)
    if _PROCESS is None:
        assert _CELERY is not None
        _PROCESS = _Process(_CELERY)
    return _PROCESS


def _on_process_start(**_: Any) -> None:
    _process()


def _on_process_end(**_: Any) -> None:
    if _PROCESS is not None:
        _PROCESS.close()


def run_chunk(job_id: str, index: int) -> None:
    """The chunk task: work chunk ``index`` of job ``job_id`` (a no-op when it is done or held)."""
    worker = _process()
    try:
        _work(worker, job_id, index)
    except Exception:
        log.exception("chunk %d of job %s failed; it is sent again (unless it was written)", index, job_id)
        with worker._lock:
            worker.current = None
        time.sleep(1)
        try:
            with worker.app.engine.begin() as conn:
                held = chunk_store.give_back(conn, job_id, index, worker.holder)
                queue = chunk_store.queue_of(conn, job_id, index)
            if held:
                worker.send(job_id, [(index, queue)])
        except Exception as exc:  # its lease runs out, and a sweep sends it again
            log.warning("giving chunk %d of job %s back failed: %s", index, job_id, type(exc).__name__)


def _work(worker: _Process, job_id: str, index: int) -> None:
    engine = worker.app.engine
    with engine.begin() as conn:
        claim = chunk_store.claim(conn, job_id, index, worker.holder, worker.lease_s)
    if claim is None:
        return
    with worker._lock:
        worker.current = (job_id, index)
    try:
        with engine.connect() as conn:
            job = job_store.get(conn, job_id)
        if claim.attempts > MAX_CLAIMS:
            log.error("chunk %d of job %s was claimed %d times; the job ends ERROR", index, job_id, claim.attempts)
            with engine.begin() as conn:
                chunk_store.give_up(conn, job_id, index, worker.holder)
                chunk_store.after_chunk(conn, job_id)
            return
        if job.status in job_store.FINAL or job.cancel_requested:
            _end(worker, claim, written=False)
            return
        units = worker.units(job_id)
        integration = worker.app.integration_record(job.integration_id)
        source = worker.app.storage(integration.id)
        write = prepare_alone(engine, job, claim.first, units[claim.first : claim.end], source, integration.access_mode)
        with engine.connect() as conn:
            job = job_store.get(conn, job_id)
        if job.status in job_store.FINAL or job.cancel_requested:  # cancelled while its objects were read
            _end(worker, claim, written=False)
            return
        try:
            write_chunk(engine, msgspec.structs.replace(write, chunk_index=index, holder=worker.holder))
        except job_store.ChunkTaken:
            log.info("chunk %d of job %s was given to another worker meanwhile; nothing written", index, job_id)
            return
        _end(worker, claim, written=True)
    finally:
        with worker._lock:
            worker.current = None


def _end(worker: _Process, claim: chunk_store.Claim, *, written: bool) -> None:
    with worker.app.engine.begin() as conn:
        if not written:
            chunk_store.drop(conn, claim.job_id, claim.index, worker.holder)
        following = chunk_store.after_chunk(conn, claim.job_id)
    if written:
        with worker._lock:
            worker.done += 1
    worker.send(claim.job_id, following)


def run_worker(
    *, catalog: str | None, broker: str | None, concurrency: int, queues: list[str], name: str | None, loglevel: str
) -> None:
    """Run a Celery worker in this process (until it is stopped: SIGTERM waits for the
    chunks in work; SIGQUIT or SIGKILL leave them to be sent again)."""
    global _CELERY  # noqa: PLW0603
    url = broker_url(broker)
    with Accessio(catalog) as app:  # refused early, in the command's process, unless PostgreSQL
        require_postgres(app.engine)
        os.environ["ACCESSIO_CATALOG"] = app.catalog
    os.environ["ACCESSIO_BROKER_URL"] = url  # the pool processes inherit both, never on a command line
    node = name or f"accessio-{os.getpid()}@{socket.gethostname()}"
    os.environ[NODE_VARIABLE] = node
    os.environ[QUEUES_VARIABLE] = ",".join(queues)
    _CELERY = make_celery(url)
    _CELERY.task(**task_options())(run_chunk)
    worker_process_init.connect(_on_process_start, weak=False)
    worker_process_shutdown.connect(_on_process_end, weak=False)
    _CELERY.worker_main(
        argv=[
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues)}",
            f"--hostname={node}",
            f"--loglevel={loglevel}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
        ]
    )
