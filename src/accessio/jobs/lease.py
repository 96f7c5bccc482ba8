"""Holding a job's lease while working it: taken at the start, renewed by a heartbeat
thread, given back at the end (also when the work stops on an exception).

A process that dies leaves its lease to run out (``catalog.jobs.LEASE_S``): the job
then shows as interrupted, and another process may take it and resume it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from accessio.catalog import jobs as job_store

log = logging.getLogger(__name__)


def _heartbeat(engine: sa.Engine, holder: str, stop: threading.Event) -> None:
    while not stop.wait(job_store.LEASE_S / 3):
        try:
            with engine.begin() as conn:
                job_store.renew_leases(conn, holder)
        except sa.exc.SQLAlchemyError as exc:  # the next beat tries again; the lease lasts 3 beats
            log.warning("renewing the leases of %s failed: %s", holder, exc)


@contextmanager
def heartbeat(engine: sa.Engine, holder: str) -> Iterator[None]:
    """Renew every lease of ``holder`` until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=_heartbeat, args=(engine, holder, stop), name="accessio-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def hold_lease(
    engine: sa.Engine, job_id: str, holder: str, *, take_over: str | None = None
) -> Iterator[job_store.JobRecord]:
    """Lease the job to ``holder`` for the block (``JobBusy`` when a live process holds it)."""
    with engine.begin() as conn:
        record = job_store.acquire_lease(conn, job_id, holder, take_over=take_over)
    try:
        with heartbeat(engine, holder):
            yield record
    finally:
        with engine.begin() as conn:
            job_store.release_lease(conn, job_id, holder)
