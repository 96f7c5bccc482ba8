"""Jobs worked by Celery workers, as stored: their chunks, who holds which, the workers.

A job handed to the workers is planned into chunks (``job_chunks``, a row each, a unit
never split) and leased to ``celery/<queue>`` for as long as it runs, so that no
in-process executor takes it up. A chunk goes ``planned`` -> ``sent`` (a message for it
is in the broker) -> ``running`` (a worker process claimed it; its lease is renewed by
the process's heartbeat) -> ``done`` or ``cancelled``.

- Exactly once: the transaction that writes a chunk's items also moves its row from
  ``running`` under the writer's claim to ``done`` (:func:`finish`); a worker whose
  claim was lost (it stalled, its chunk was given to another) writes nothing.
- Progress: for these jobs ``jobs.next_unit`` counts the units finished (chunks end out
  of order), so ``catalog.jobs.counts`` stays right; the job's counters move in the same
  transaction as its chunk.
- Fairness: a job has at most its window of chunks sent at a time; each chunk finished
  sends the job's next (:func:`after_chunk`), so the broker's queue takes turns between
  jobs instead of holding a large job's whole backlog before a small one.
- Order: a job that upserts metadata (a later unit's metadata wins over an earlier one
  of the same object) has a window of one, so its chunks run one after the other.
- Recovery (:func:`sweep`, run by every worker's heartbeat): a running chunk whose lease
  ran out (its process died) or whose process is known dead on this host is sent again;
  a chunk sent long ago whose message never ran (a broker that lost it) is sent again.
  A message twice for one chunk is harmless: only one claim wins (:func:`claim`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accessio.catalog import jobs as job_store
from accessio.catalog.schema import job_chunks, jobs, workers

FOREVER = datetime(9999, 1, 1, tzinfo=UTC)  # a job's lease while workers have it: no in-process executor takes it
HOLDER_PREFIX = "celery/"
UNFINISHED = ("planned", "sent", "running")
SILENT_S = 60  # a worker process that has not beaten for this long is shown as silent (beats: 10 s)


@dataclass(frozen=True)
class Claim:
    """A chunk a worker process holds: units ``first`` to ``end - 1`` of the job."""

    job_id: str
    index: int
    first: int
    end: int
    attempts: int


@dataclass(frozen=True)
class ChunkView:
    """A chunk as ``accessio jobs ls`` shows it."""

    index: int
    first: int
    end: int
    status: str
    holder: str | None
    attempts: int
    node: str | None = None  # the holder's worker (accessio worker --name)


@dataclass(frozen=True)
class WorkerView:
    holder: str
    node: str
    queues: str
    started_at: datetime
    beat_at: datetime
    chunks_done: int
    chunks_held: int


def workers_hold(job: job_store.JobRecord) -> bool:
    """Whether the job is handed to Celery workers."""
    return (job.lease_holder or "").startswith(HOLDER_PREFIX)


def _lock_job(conn: sa.Connection, job_id: str) -> job_store.JobRecord:
    """The job, its row locked until the transaction ends (claims and ends of one job take turns)."""
    conn.execute(sa.select(jobs.c.id).where(jobs.c.id == job_id).with_for_update())
    return job_store.get(conn, job_id)


def plan(conn: sa.Connection, job_id: str, bounds: list[tuple[int, int]], queue: str, window: int) -> list[int]:
    """Hand the job to the workers: store its chunks (``bounds``: first and end unit of
    each), the first ``window`` of them sent. Returns the chunks to send."""
    job = _lock_job(conn, job_id)
    if conn.execute(sa.select(sa.func.count()).select_from(job_chunks).where(job_chunks.c.job_id == job_id)).scalar():
        raise ValueError(f"job {job_id} is already handed to the workers")
    now = datetime.now(UTC)
    if job.upsert_metadata:
        window = 1  # later units' metadata wins: chunks in order, one at a time
    rows = [
        {
            "job_id": job_id,
            "chunk_index": index,
            "first_unit": first,
            "end_unit": end,
            "status": "sent" if index < window else "planned",
            "queue": queue,
            "sent_at": now if index < window else None,
            "attempts": 0,
        }
        for index, (first, end) in enumerate(bounds)
    ]
    if rows:
        conn.execute(job_chunks.insert(), rows)
    conn.execute(
        jobs.update().where(jobs.c.id == job_id).values(lease_holder=HOLDER_PREFIX + queue, lease_expires_at=FOREVER)
    )
    return list(range(min(window, len(rows))))


def _live(holder: str | None, expires: datetime | None, now: datetime) -> bool:
    if holder is None or expires is None or expires <= now:
        return False
    return job_store.holder_alive(holder) is not False


def claim(conn: sa.Connection, job_id: str, index: int, holder: str, lease_s: float) -> Claim | None:
    """Claim a chunk for a worker process, or ``None`` when there is nothing to do: it is
    finished, another live process holds it, or (a job in order) an earlier one is not
    finished yet (then it waits, planned, for its turn)."""
    job = _lock_job(conn, job_id)
    row = conn.execute(
        sa.select(job_chunks).where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == index)
    ).first()
    now = datetime.now(UTC)
    if row is None or row.status in ("done", "cancelled", "planned"):
        return None
    if job.status in job_store.FINAL:  # cancelled (or stopped by an error) before this chunk ran
        _cancel_rest(conn, job_id)
        _release(conn, job_id)
        return None
    if row.status == "running" and row.holder != holder and _live(row.holder, row.lease_expires_at, now):
        return None
    if job.upsert_metadata:
        earlier = conn.execute(
            sa.select(sa.func.count())
            .select_from(job_chunks)
            .where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index < index, job_chunks.c.status.in_(UNFINISHED))
        ).scalar()
        if earlier:
            conn.execute(
                job_chunks.update()
                .where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == index)
                .values(status="planned", holder=None, sent_at=None)
            )
            return None
    conn.execute(
        job_chunks.update()
        .where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == index)
        .values(
            status="running",
            holder=holder,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=job_chunks.c.attempts + 1,
        )
    )
    if job.started_at is None:
        job_store.set_status(conn, job_id, "PENDING", started=True)
    return Claim(job_id, index, row.first_unit, row.end_unit, row.attempts + 1)


def finish(conn: sa.Connection, job_id: str, index: int, holder: str) -> None:
    """Mark a chunk done in the transaction that writes it; :class:`~accessio.catalog.jobs.ChunkTaken`
    when ``holder`` no longer holds it (it was given to another process, which may have written it)."""
    result = conn.execute(
        job_chunks.update()
        .where(
            job_chunks.c.job_id == job_id,
            job_chunks.c.chunk_index == index,
            job_chunks.c.status == "running",
            job_chunks.c.holder == holder,
        )
        .values(status="done", finished_at=datetime.now(UTC), lease_expires_at=None)
    )
    if result.rowcount != 1:
        raise job_store.ChunkTaken(job_id)


def add_counts(conn: sa.Connection, job_id: str, units: int, outcome: dict[str, int]) -> None:
    """Count ``units`` more units finished, with the chunk's ``outcome`` counters."""
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id)
        .values(
            next_unit=jobs.c.next_unit + units,
            created=jobs.c.created + outcome.get("created", 0),
            skipped=jobs.c.skipped + outcome.get("skipped", 0),
            upserted=jobs.c.upserted + outcome.get("upserted", 0),
            failed=jobs.c.failed + outcome.get("error", 0),
        )
    )


def give_back(conn: sa.Connection, job_id: str, index: int, holder: str) -> bool:
    """A chunk its process stopped working (its task failed): sent again by the caller.
    Returns whether to send it: it was held by ``holder``, or never claimed (the claim
    itself failed); a chunk done, or held by another process, stays as it is."""
    result = conn.execute(
        job_chunks.update()
        .where(
            job_chunks.c.job_id == job_id,
            job_chunks.c.chunk_index == index,
            job_chunks.c.holder == holder,
            job_chunks.c.status == "running",
        )
        .values(status="sent", holder=None, lease_expires_at=None, sent_at=datetime.now(UTC))
    )
    if result.rowcount == 1:
        return True
    query = sa.select(job_chunks.c.status).where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == index)
    return conn.execute(query).scalar_one_or_none() == "sent"


def queue_of(conn: sa.Connection, job_id: str, index: int) -> str:
    query = sa.select(job_chunks.c.queue).where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == index)
    return str(conn.execute(query).scalar_one())


def _cancel_rest(conn: sa.Connection, job_id: str) -> None:
    conn.execute(
        job_chunks.update()
        .where(job_chunks.c.job_id == job_id, job_chunks.c.status.in_(("planned", "sent")))
        .values(status="cancelled", finished_at=datetime.now(UTC))
    )


def drop(conn: sa.Connection, job_id: str, index: int, holder: str) -> None:
    """A chunk not written because its job ended (cancelled, or stopped by an error)."""
    conn.execute(
        job_chunks.update()
        .where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == index, job_chunks.c.holder == holder)
        .values(status="cancelled", finished_at=datetime.now(UTC), lease_expires_at=None)
    )


def after_chunk(conn: sa.Connection, job_id: str) -> list[tuple[int, str]]:
    """After one of the job's chunks ended: end the job when nothing is left (or it was
    cancelled, or a unit failed without ``ignore_errors``), else send its next chunk.
    Returns the chunks to send, with their queue."""
    job = _lock_job(conn, job_id)
    if job.status in job_store.FINAL or job.cancel_requested:
        _cancel_rest(conn, job_id)
        if job.status not in job_store.FINAL:
            job_store.set_status(conn, job_id, "CANCELLED", finished=True)
        _release(conn, job_id)
        return []
    if job.failed and not job.ignore_errors:  # as in-process jobs: the first failure stops the job
        _cancel_rest(conn, job_id)
        if not _unfinished(conn, job_id):
            job_store.set_status(conn, job_id, "ERROR", finished=True)
            _release(conn, job_id)
        return []
    if not _unfinished(conn, job_id):
        job_store.set_status(conn, job_id, "DONE", finished=True)
        _release(conn, job_id)
        return []
    following = conn.execute(
        sa.select(job_chunks.c.chunk_index, job_chunks.c.queue)
        .where(job_chunks.c.job_id == job_id, job_chunks.c.status == "planned")
        .order_by(job_chunks.c.chunk_index)
        .limit(1)
    ).first()
    if following is None:
        return []
    if (
        job.upsert_metadata
        and conn.execute(
            sa.select(sa.func.count())
            .select_from(job_chunks)
            .where(job_chunks.c.job_id == job_id, job_chunks.c.status.in_(("sent", "running")))
        ).scalar()
    ):
        return []
    conn.execute(
        job_chunks.update()
        .where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == following.chunk_index)
        .values(status="sent", sent_at=datetime.now(UTC))
    )
    return [(following.chunk_index, following.queue)]


def _unfinished(conn: sa.Connection, job_id: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(job_chunks)
            .where(job_chunks.c.job_id == job_id, job_chunks.c.status.in_(UNFINISHED))
        ).scalar_one()
    )


def give_up(conn: sa.Connection, job_id: str, index: int, holder: str) -> None:
    """A chunk claimed too often (its processes kept failing on it): the job ends ERROR."""
    drop(conn, job_id, index, holder)
    job_store.set_status(conn, job_id, "ERROR", finished=True)


def _release(conn: sa.Connection, job_id: str) -> None:
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(lease_holder=None, lease_expires_at=None))


# Worker processes: heartbeat, leases of their chunks, recovery.


def beat(
    conn: sa.Connection,
    holder: str,
    node: str,
    queues: str,
    lease_s: float,
    *,
    current: tuple[str, int] | None = None,
    done: int = 0,
) -> None:
    """A worker process is alive: its row beats, the lease of the chunk it works
    (``current``) moves ahead. A chunk it holds but no longer works (its task failed)
    is left to run out, and is then sent again by a sweep."""
    now = datetime.now(UTC)
    statement = pg_insert(workers).values(
        holder=holder, node=node, queues=queues, started_at=now, beat_at=now, chunks_done=done
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[workers.c.holder],
            set_={"beat_at": now, "chunks_done": workers.c.chunks_done + done},
        )
    )
    if current is not None:
        conn.execute(
            job_chunks.update()
            .where(
                job_chunks.c.job_id == current[0],
                job_chunks.c.chunk_index == current[1],
                job_chunks.c.holder == holder,
                job_chunks.c.status == "running",
            )
            .values(lease_expires_at=now + timedelta(seconds=lease_s))
        )


def sign_off(conn: sa.Connection, holder: str) -> None:
    conn.execute(workers.delete().where(workers.c.holder == holder))


def sweep(conn: sa.Connection, resend_s: float, forget_s: float = 86_400) -> list[tuple[str, int, str]]:
    """Chunks to send again: running ones whose process died (lease ran out, or known dead
    on this host), sent ones whose message never ran for ``resend_s`` seconds. Each is
    marked sent again here, so that of many workers sweeping only one sends it. Chunks of
    ended jobs still waiting are cancelled; workers silent for ``forget_s`` are forgotten."""
    now = datetime.now(UTC)
    again: list[tuple[str, int, str]] = []
    running = conn.execute(
        sa.select(job_chunks.c.job_id, job_chunks.c.chunk_index, job_chunks.c.queue, job_chunks.c.holder,
                  job_chunks.c.lease_expires_at)
        .where(job_chunks.c.status == "running")
    ).all()  # fmt: skip
    for row in running:
        if _live(row.holder, row.lease_expires_at, now):
            continue
        result = conn.execute(
            job_chunks.update()
            .where(
                job_chunks.c.job_id == row.job_id,
                job_chunks.c.chunk_index == row.chunk_index,
                job_chunks.c.status == "running",
                job_chunks.c.holder == row.holder,
            )
            .values(status="sent", holder=None, lease_expires_at=None, sent_at=now)
        )
        if result.rowcount == 1:
            again.append((row.job_id, row.chunk_index, row.queue))
    lost = conn.execute(
        job_chunks.update()
        .where(job_chunks.c.status == "sent", job_chunks.c.sent_at < now - timedelta(seconds=resend_s))
        .values(sent_at=now)
        .returning(job_chunks.c.job_id, job_chunks.c.chunk_index, job_chunks.c.queue)
    ).all()
    again.extend((row.job_id, row.chunk_index, row.queue) for row in lost)
    ended = sa.select(jobs.c.id).where(jobs.c.status.in_(job_store.FINAL))
    conn.execute(
        job_chunks.update()
        .where(job_chunks.c.status.in_(("planned", "sent")), job_chunks.c.job_id.in_(ended))
        .values(status="cancelled", finished_at=now)
    )
    conn.execute(  # jobs ended from outside (cancelled) go back to nobody
        jobs.update()
        .where(jobs.c.status.in_(job_store.FINAL), jobs.c.lease_holder.startswith(HOLDER_PREFIX))
        .values(lease_holder=None, lease_expires_at=None)
    )
    conn.execute(workers.delete().where(workers.c.beat_at < now - timedelta(seconds=forget_s)))
    return again


def held(conn: sa.Connection, job_ids: list[str]) -> dict[str, list[ChunkView]]:
    """The unfinished chunks of the given jobs (running ones with their holder), by job."""
    if not job_ids:
        return {}
    rows = conn.execute(
        sa.select(job_chunks, workers.c.node)
        .select_from(job_chunks.outerjoin(workers, workers.c.holder == job_chunks.c.holder))
        .where(job_chunks.c.job_id.in_(job_ids), job_chunks.c.status == "running")
        .order_by(job_chunks.c.job_id, job_chunks.c.chunk_index)
    )
    found: dict[str, list[ChunkView]] = {}
    for row in rows:
        found.setdefault(row.job_id, []).append(
            ChunkView(row.chunk_index, row.first_unit, row.end_unit, row.status, row.holder, row.attempts, row.node)
        )
    return found


def chunk_counts(conn: sa.Connection, job_id: str) -> dict[str, int]:
    """How many of the job's chunks are in each status."""
    rows = conn.execute(
        sa.select(job_chunks.c.status, sa.func.count())
        .where(job_chunks.c.job_id == job_id)
        .group_by(job_chunks.c.status)
    )
    return {status: int(count) for status, count in rows}


def worker_list(conn: sa.Connection) -> list[WorkerView]:
    """Every worker process known, most recent beat first, with the chunks it holds."""
    holding = (
        sa.select(job_chunks.c.holder, sa.func.count().label("n"))
        .where(job_chunks.c.status == "running")
        .group_by(job_chunks.c.holder)
        .subquery()
    )
    rows = conn.execute(
        sa.select(workers, sa.func.coalesce(holding.c.n, 0).label("held"))
        .select_from(workers.outerjoin(holding, holding.c.holder == workers.c.holder))
        .order_by(workers.c.beat_at.desc())
    )
    return [_worker(row) for row in rows]


def _worker(row: Any) -> WorkerView:
    return WorkerView(row.holder, row.node, row.queues, row.started_at, row.beat_at, row.chunks_done, int(row.held))
