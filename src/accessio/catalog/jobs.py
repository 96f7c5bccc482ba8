"""Registration jobs as stored: the job, and one row per unit that says what became of it.

A job's units are written before any work starts; a unit is done exactly when its
row says so, which is what lets a killed job resume where it stopped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa

from accessio.catalog.errors import NotFound
from accessio.catalog.schema import job_units, jobs

_BATCH = 5000


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
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class UnitState:
    """What became of one unit of a job."""

    unit_index: int
    status: str
    outcome: str | None
    item_id: str | None
    error: str | None
    action: str | None


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
) -> JobRecord:
    """Store a job, its units (``units``: encoded by the jobs package) and one pending
    state row per unit, before any of them is worked on."""
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
        "created_at": datetime.now(UTC),
        "started_at": None,
        "finished_at": None,
    }
    conn.execute(jobs.insert().values(units=units, **values))
    raw = conn.connection.driver_connection
    assert raw is not None
    states = ((values["id"], i, "pending") for i in range(units_total))
    while batch := list(islice(states, _BATCH)):
        if conn.dialect.name == "sqlite":
            raw.executemany("INSERT INTO job_units (job_id, unit_index, status) VALUES (?, ?, ?)", batch)
        else:
            with raw.cursor() as cursor, cursor.copy("COPY job_units (job_id, unit_index, status) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
    return JobRecord(**values)


def stored_units(conn: sa.Connection, job_id: str) -> bytes:
    """The job's units as stored by :func:`create`."""
    blob = conn.execute(sa.select(jobs.c.units).where(jobs.c.id == job_id)).scalar_one_or_none()
    if blob is None:
        raise NotFound("job", job_id)
    return bytes(blob)


def get(conn: sa.Connection, job_id: str) -> JobRecord:
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound("job", job_id)
    return _job(row)


def recent(conn: sa.Connection, limit: int = 50) -> list[JobRecord]:
    rows = conn.execute(sa.select(jobs).order_by(jobs.c.created_at.desc()).limit(limit))
    return [_job(row) for row in rows]


def pending_units(conn: sa.Connection, job_id: str, limit: int, after: int = -1) -> list[int]:
    """Positions of the next pending units of a job after ``after``, in order (a walk
    along the primary key, so each chunk costs the same however long the job)."""
    query = (
        sa.select(job_units.c.unit_index)
        .where(job_units.c.job_id == job_id, job_units.c.unit_index > after, job_units.c.status == "pending")
        .order_by(job_units.c.unit_index)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def counts(conn: sa.Connection, job_id: str) -> dict[str, int]:
    """Units per status and items per outcome (derived from the unit rows, never kept twice)."""
    out = {"pending": 0, "done": 0, "error": 0, "cancelled": 0, "created": 0, "skipped": 0, "upserted": 0}
    query = (
        sa.select(job_units.c.status, job_units.c.outcome, sa.func.count())
        .where(job_units.c.job_id == job_id)
        .group_by(job_units.c.status, job_units.c.outcome)
    )
    for status, outcome, n in conn.execute(query):
        out[status] = out.get(status, 0) + n
        if outcome:
            out[outcome] = out.get(outcome, 0) + n
    return out


def failed_units(conn: sa.Connection, job_id: str) -> list[UnitState]:
    query = (
        sa.select(job_units)
        .where(job_units.c.job_id == job_id, job_units.c.status == "error")
        .order_by(job_units.c.unit_index)
    )
    return [UnitState(**{f: getattr(r, f) for f in UnitState.__dataclass_fields__}) for r in conn.execute(query)]


def set_status(conn: sa.Connection, job_id: str, status: str, *, started: bool = False, finished: bool = False) -> None:
    values: dict[str, Any] = {"status": status}
    now = datetime.now(UTC)
    if started:
        values["started_at"] = now
    if finished:
        values["finished_at"] = now
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


def request_cancel(conn: sa.Connection, job_id: str) -> None:
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(cancel_requested=True))


def cancel_pending(conn: sa.Connection, job_id: str) -> int:
    """Mark every unit not yet worked on as cancelled; units already registered stay."""
    result = conn.execute(
        job_units.update()
        .where(job_units.c.job_id == job_id, job_units.c.status == "pending")
        .values(status="cancelled")
    )
    return int(result.rowcount or 0)
