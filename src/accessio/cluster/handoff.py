"""Handing a stored job to the workers: its units planned into chunks, the first sent.

Chunks are cut by :func:`accessio.jobs.runner.chunk_end`, as the in-process runner cuts
them (a unit, a whole group or series, is never split), with at most ``CHUNK_READS``
objects to read each: small enough to spread a job over many workers and to show
progress, large enough that the broker's cost per chunk (a message, a claim and an end
in the catalog) is small beside the chunk's reads.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from accessio.catalog import chunks as chunk_store
from accessio.catalog import jobs as job_store
from accessio.cluster.broker import DEFAULT_QUEUE, ChunkSender
from accessio.errors import AccessioError
from accessio.jobs.runner import CHUNK_UNITS, chunk_end
from accessio.jobs.units import decode_units
from accessio.service.app import Accessio
from accessio.spec.model import Unit

CHUNK_READS = 500  # objects read per chunk
WINDOW = 8  # chunks of one job in the broker at a time (fairness between jobs)


class NeedsPostgres(AccessioError):
    """Workers on many machines share one catalog: PostgreSQL."""

    status = 400
    code = "executor.setup"


def require_postgres(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise NeedsPostgres(
            "the Celery executor needs a PostgreSQL catalog (workers on other machines share it); "
            f"this catalog is {engine.dialect.name}: pass --catalog postgresql://... or use the in-process executor"
        )


def queue_name(given: str | None = None) -> str:
    return given or os.environ.get("ACCESSIO_QUEUE") or DEFAULT_QUEUE


def holder_for(queue: str) -> str:
    """The lease holder a job is stored with when it goes to the workers."""
    return chunk_store.HOLDER_PREFIX + queue


def chunk_bounds(units: list[Unit], first: int, max_reads: int) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    while first < len(units):
        end = chunk_end(units, first, CHUNK_UNITS, max_reads)
        bounds.append((first, end))
        first = end
    return bounds


def hand_to_workers(
    app: Accessio,
    job_id: str,
    sender: ChunkSender,
    *,
    queue: str = DEFAULT_QUEUE,
    units: list[Unit] | None = None,
    window: int = WINDOW,
    chunk_reads: int = CHUNK_READS,
) -> None:
    """Plan the job's units from where it stands into chunks (of at most ``chunk_reads``
    objects to read) and send the first ``window``.
    The job must not be worked in process meanwhile (it is stored leased to
    :func:`holder_for` ``queue``, or its lease is held by the caller)."""
    require_postgres(app.engine)
    with app.engine.connect() as conn:
        job = job_store.get(conn, job_id)
        if units is None:
            units = decode_units(job_store.stored_units(conn, job_id))
    if job.status in job_store.FINAL:
        return
    integration = app.integration_record(job.integration_id)
    max_reads = 0 if integration.access_mode == "strictClientOnly" else chunk_reads
    bounds = chunk_bounds(units, job.next_unit, max_reads)
    with app.engine.begin() as conn:
        first = chunk_store.plan(conn, job_id, bounds, queue, window)
        if not bounds:  # nothing left to do
            chunk_store.after_chunk(conn, job_id)
    sender.send(job_id, [(index, queue) for index in first])
