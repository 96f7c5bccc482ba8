"""Registration jobs as stored: the job with its units, how far it got, and the units that failed.

A job's units are written (with the job) before any work starts. They are worked in
order, one chunk per transaction, and the transaction that writes a chunk's items also
moves the job's ``next_unit`` past the chunk and adds to its counters: the units before
``next_unit`` are finished, those from it on are not, which is what lets a killed job
resume where it stopped. A failed unit also gets a row with its error.
"""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from accessio.catalog import webhooks as webhook_store
from accessio.catalog.errors import NotFound
from accessio.catalog.schema import folders, jobs, unit_errors, webhooks
from accessio.errors import AccessioError

FINAL = frozenset({"DONE", "ERROR", "CANCELLED"})
LEASE_S = 30  # a lease not renewed for this long was left by a process that died


@dataclass(frozen=True)
class JobRecord:
    """A stored registration job."""

    id: str
    folder_id: str
    integration_id: str
    status: str
    file_name: str | None
    ignore_errors: bool
    skip_duplicate_urls: bool
    upsert_metadata: bool
    cancel_requested: bool
    units_total: int
    next_unit: int
    created: int
    skipped: int
    upserted: int
    failed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner_id: str | None = None
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    sequence_fps: float | None = None  # the frame rate of the job's image sequences (None: the default)
    kind: str = "register"  # or "sync": a synced folder's sync (``accessio.jobs.sync``)
    sync_counts: dict[str, int] | None = None  # a sync's counters


@dataclass(frozen=True)
class UnitError:
    """A unit that failed, and why."""

    unit_index: int
    error: str
    action: str


class ChunkTaken(Exception):
    """Another process finished the same chunk first (its transaction is rolled back)."""


_RECORD = [column for column in jobs.c if column.name != "units"]  # the units are read only to work them


def _job(row: Any) -> JobRecord:
    return JobRecord(**{c: getattr(row, c) for c in JobRecord.__dataclass_fields__})


def create(
    conn: sa.Connection,
    *,
    folder_id: str,
    integration_id: str,
    file_name: str | None,
    ignore_errors: bool,
    skip_duplicate_urls: bool,
    upsert_metadata: bool,
    units: bytes,
    units_total: int,
    owner_id: str | None = None,
    lease_holder: str | None = None,
    sequence_fps: float | None = None,
    kind: str = "register",
) -> JobRecord:
    """Store a job and its units (``units``: encoded by the jobs package), before any
    of them is worked on; leased to ``lease_holder`` when given (the process that will
    work it), so that it never looks interrupted between being stored and worked."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "folder_id": folder_id,
        "integration_id": integration_id,
        "status": "PENDING",
        "file_name": file_name,
        "ignore_errors": ignore_errors,
        "skip_duplicate_urls": skip_duplicate_urls,
        "upsert_metadata": upsert_metadata,
        "cancel_requested": False,
        "units_total": units_total,
        "next_unit": 0,
        "created": 0,
        "skipped": 0,
        "upserted": 0,
        "failed": 0,
        "created_at": datetime.now(UTC),
        "started_at": None,
        "finished_at": None,
        "owner_id": owner_id,
        "lease_holder": lease_holder,
        "lease_expires_at": datetime.now(UTC) + timedelta(seconds=LEASE_S) if lease_holder else None,
        "attempts": 0,
        "sequence_fps": sequence_fps,
        "kind": kind,
        "sync_counts": None,
    }
    conn.execute(jobs.insert().values(units=units, **values))
    return JobRecord(**values)


def stored_units(conn: sa.Connection, job_id: str) -> bytes:
    """The job's units as stored by :func:`create`."""
    blob = conn.execute(sa.select(jobs.c.units).where(jobs.c.id == job_id)).scalar_one_or_none()
    if blob is None:
        raise NotFound("job", job_id)
    return bytes(blob)


def get(conn: sa.Connection, job_id: str) -> JobRecord:
    row = conn.execute(sa.select(*_RECORD).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound("job", job_id)
    return _job(row)


def recent(conn: sa.Connection, limit: int = 50) -> list[JobRecord]:
    rows = conn.execute(sa.select(*_RECORD).order_by(jobs.c.created_at.desc()).limit(limit))
    return [_job(row) for row in rows]


def counts(job: JobRecord) -> dict[str, int]:
    """Units per status and per outcome. Units not worked on are pending while the job
    can still run, and cancelled once it ended (cancelled, or stopped by an error)."""
    remaining = job.units_total - job.next_unit
    ended = job.status in FINAL
    return {
        "pending": 0 if ended else remaining,
        "done": job.created + job.skipped + job.upserted,
        "error": job.failed,
        "cancelled": remaining if ended else 0,
        "created": job.created,
        "skipped": job.skipped,
        "upserted": job.upserted,
    }


def failed_units(conn: sa.Connection, job_id: str, limit: int | None = None) -> list[UnitError]:
    """The job's failed units in unit order (the first ``limit`` of them)."""
    query = sa.select(unit_errors).where(unit_errors.c.job_id == job_id).order_by(unit_errors.c.unit_index)
    if limit is not None:
        query = query.limit(limit)
    return [UnitError(row.unit_index, row.error, row.action) for row in conn.execute(query)]


def finish_chunk(conn: sa.Connection, job_id: str, first: int, end: int, outcome: dict[str, int]) -> None:
    """Move the job past the units ``first`` to ``end - 1`` and add the chunk's
    ``outcome`` counters. Raises :class:`ChunkTaken` when the job is no longer at
    ``first``: another process worked the same chunk."""
    result = conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.next_unit == first)
        .values(
            next_unit=end,
            created=jobs.c.created + outcome.get("created", 0),
            skipped=jobs.c.skipped + outcome.get("skipped", 0),
            upserted=jobs.c.upserted + outcome.get("upserted", 0),
            failed=jobs.c.failed + outcome.get("error", 0),
        )
    )
    if result.rowcount != 1:
        raise ChunkTaken(job_id)


# A job's end, in one statement: the status (only when the job had not ended yet, so that
# an end is announced once) and whether the catalog has a webhook at all, so that with
# none a job's end costs what it did before webhooks (docs/benchmarks.md).
_END = (
    jobs.update()
    .where(jobs.c.id == sa.bindparam("job_id"), jobs.c.status.not_in(sorted(FINAL)))
    .values(status=sa.bindparam("final"), finished_at=sa.bindparam("now"))
)
_HOOKED = sa.exists(sa.select(webhooks.c.id)).label("hooked")
_END_HOOKED = _END.returning(_HOOKED)


def set_status(conn: sa.Connection, job_id: str, status: str, *, started: bool = False, finished: bool = False) -> None:
    """Set a job's status. A job that ends (a status in ``FINAL`` with ``finished``)
    enqueues its webhooks' deliveries in the same transaction, once: only the change
    from a status not final to a final one announces it."""
    now = datetime.now(UTC)
    if finished and status in FINAL:
        params = {"job_id": job_id, "final": status, "now": now}
        if conn.dialect.update_returning:
            row = conn.execute(_END_HOOKED, params).first()
            ended, hooked = row is not None, row is not None and bool(row.hooked)
        else:  # SQLite before 3.35 has no RETURNING
            ended = conn.execute(_END, params).rowcount == 1
            hooked = ended and bool(conn.execute(sa.select(_HOOKED)).scalar())
        if ended:
            if started:
                conn.execute(jobs.update().where(jobs.c.id == job_id).values(started_at=now))
            if hooked:
                _announce_end(conn, job_id, now)
            return
    values: dict[str, Any] = {"status": status}
    if started:
        values["started_at"] = now
    if finished:
        values["finished_at"] = now
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


def _announce_end(conn: sa.Connection, job_id: str, now: datetime) -> None:
    """Enqueue the deliveries of a job that just ended to the webhooks that want it
    (``catalog.webhooks``); the job is read whole only when one does."""
    where = sa.select(jobs.c.kind, folders.c.path).join(folders, folders.c.id == jobs.c.folder_id)
    kind, folder_path = conn.execute(where.where(jobs.c.id == job_id)).one()
    event = webhook_store.EVENT_OF_KIND.get(kind, "job.finished")
    targets = webhook_store.subscribers(conn, folder_path, event)
    if not targets:
        return
    job = get(conn, job_id)
    body = {
        "job": {
            "id": job.id,
            "kind": job.kind,
            "status": job.status,
            "folderId": job.folder_id,
            "folderPath": folder_path,
            "fileName": job.file_name,
            "counts": counts(job),
            "syncCounts": job.sync_counts,
            "createdAt": job.created_at.isoformat(),
            "startedAt": job.started_at.isoformat() if job.started_at else None,
            "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        }
    }
    webhook_store.enqueue(conn, targets, event=event, job_id=job.id, body=body, now=now)


def request_cancel(conn: sa.Connection, job_id: str) -> None:
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(cancel_requested=True))


def cancel(conn: sa.Connection, job_id: str) -> int:
    """End a job that has not ended: units not worked on yet count as cancelled (a
    process working the job stops after its chunk in flight, whose units count as
    done). Returns how many units were cancelled."""
    job = get(conn, job_id)
    if job.status in FINAL:
        return 0
    request_cancel(conn, job_id)
    set_status(conn, job_id, "CANCELLED", finished=True)
    return job.units_total - job.next_unit


def settle(conn: sa.Connection, job_id: str, *, stopped_by_error: bool = False) -> JobRecord:
    """End a job whose run stopped, as it stands: CANCELLED when that was asked, ERROR
    when a failure stopped it (``stopped_by_error``) or when it failed units without
    ``ignore_errors``, DONE when every unit is worked; otherwise it stays PENDING (a
    stopped run: it resumes). Returns the job as it is then."""
    job = get(conn, job_id)
    if job.status in FINAL:
        return job
    if job.cancel_requested:
        set_status(conn, job_id, "CANCELLED", finished=True)
    elif stopped_by_error:
        set_status(conn, job_id, "ERROR", finished=True)
    elif job.next_unit >= job.units_total:
        failed = job.failed > 0 and not job.ignore_errors
        set_status(conn, job_id, "ERROR" if failed else "DONE", finished=True)
    else:
        return job
    return get(conn, job_id)


# Leases: the process working a job holds it, and renews it every LEASE_S / 3 seconds.


class JobBusy(AccessioError):
    """Another live process works the job."""

    status = 409
    code = "job.busy"


def lease_holder_id() -> str:
    """A lease holder name for this process: ``host/pid/random``."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def holder_alive(holder: str) -> bool | None:
    """Whether the process of a lease holder still runs: known only on its own host."""
    host, _, rest = holder.partition("/")
    pid_text = rest.partition("/")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a process that died but was not reaped yet (a zombie) is dead too
        with open(f"/proc/{pid_text}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def lease_live(job: JobRecord, now: datetime) -> bool:
    """Whether a live process holds the job's lease."""
    if job.lease_holder is None or job.lease_expires_at is None or job.lease_expires_at <= now:
        return False
    return holder_alive(job.lease_holder) is not False


def state(job: JobRecord, now: datetime | None = None) -> str:
    """What the job is doing: ``queued`` (stored, not started yet), ``running``,
    ``interrupted`` (started, but no live process holds it: it died, or stopped at a
    chunk boundary), or its final status in lower case."""
    if job.status in FINAL:
        return job.status.lower()
    if job.started_at is None:
        return "queued"
    return "running" if lease_live(job, now or datetime.now(UTC)) else "interrupted"


def acquire_lease(conn: sa.Connection, job_id: str, holder: str, *, take_over: str | None = None) -> JobRecord:
    """Lease a PENDING job to ``holder``, or raise :class:`JobBusy` when a live process
    holds it (a lease whose process is known dead on this host is taken at once).
    ``take_over``: a holder the lease may be taken from (the server handing a queued
    job to its worker process)."""
    job = get(conn, job_id)
    now = datetime.now(UTC)
    if job.status in FINAL:
        return job
    held_by_other = job.lease_holder not in (None, holder, take_over)
    if held_by_other and lease_live(job, now):
        assert job.lease_holder is not None
        raise JobBusy(
            f"job {job_id} is being worked by {job.lease_holder.rsplit('/', 1)[0]} (lease until "
            f"{job.lease_expires_at:%H:%M:%S} UTC); wait for it or cancel it"
        )
    crashed = job.lease_holder is not None and job.lease_holder not in (holder, take_over)
    condition = jobs.c.lease_holder.is_(None) if job.lease_holder is None else jobs.c.lease_holder == job.lease_holder
    result = conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id, condition)
        .values(
            lease_holder=holder,
            lease_expires_at=now + timedelta(seconds=LEASE_S),
            attempts=jobs.c.attempts + (1 if crashed else 0),
        )
    )
    if result.rowcount != 1:  # another process took it between our read and our write
        raise JobBusy(f"job {job_id} was just taken by another process")
    return get(conn, job_id)


def renew_leases(conn: sa.Connection, holder: str) -> int:
    """Move every lease of ``holder`` LEASE_S seconds ahead; how many it holds."""
    result = conn.execute(
        jobs.update()
        .where(jobs.c.lease_holder == holder)
        .values(lease_expires_at=datetime.now(UTC) + timedelta(seconds=LEASE_S))
    )
    return int(result.rowcount)


def release_lease(conn: sa.Connection, job_id: str, holder: str) -> None:
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.lease_holder == holder)
        .values(lease_holder=None, lease_expires_at=None)
    )


def unleased(conn: sa.Connection, limit: int = 100) -> list[JobRecord]:
    """PENDING jobs that no live process holds (interrupted ones), oldest first."""
    now = datetime.now(UTC)
    rows = conn.execute(
        sa.select(*_RECORD)
        .where(
            jobs.c.status == "PENDING",
            sa.or_(jobs.c.lease_holder.is_(None), jobs.c.lease_expires_at <= now, jobs.c.lease_expires_at.is_(None)),
        )
        .order_by(jobs.c.created_at)
        .limit(limit)
    )
    return [_job(row) for row in rows]
