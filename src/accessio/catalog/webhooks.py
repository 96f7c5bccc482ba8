"""Webhooks and their outbox as stored: the webhooks, the deliveries a job's end
enqueues, and the claims that keep two processes from sending one delivery at once.

A delivery is written in the transaction that ends its job (:func:`enqueue`, called by
``catalog.jobs.set_status``), so an event is never lost to a crash between the job's
end and its announcement, and never announced for an end that was rolled back. Senders
(``accessio.service.webhooks``) claim a due delivery with a conditional update, send
it, then record the outcome under the same claim.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from accessio.catalog.errors import NotFound
from accessio.catalog.schema import folders, webhook_deliveries, webhooks

EVENTS = ("job.finished", "sync.finished")  # a job of kind "register" ends; a sync (kind "sync") ends
EVENT_OF_KIND = {"register": "job.finished", "sync": "sync.finished"}
SECRET_PREFIX = "whsec_"
STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class WebhookRecord:
    """A stored webhook, without its secret (which is read only to sign)."""

    id: str
    folder_id: str | None  # None: server-wide
    url: str
    events: tuple[str, ...]
    allow_private_network: bool
    owner_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One event to one webhook, and how sending it went so far."""

    id: str
    webhook_id: str
    event: str
    job_id: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery with what sending it needs."""

    id: str
    webhook_id: str
    event: str
    payload: bytes
    attempts: int  # before this one
    url: str
    secret: str
    allow_private_network: bool


_WEBHOOK = [c for c in webhooks.c if c.name != "secret"]


def _webhook(row: Any) -> WebhookRecord:
    return WebhookRecord(
        id=row.id,
        folder_id=row.folder_id,
        url=row.url,
        events=tuple(row.events),
        allow_private_network=bool(row.allow_private_network),
        owner_id=row.owner_id,
        created_at=row.created_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(**{name: getattr(row, name) for name in Delivery.__dataclass_fields__})


def add(
    conn: sa.Connection,
    *,
    folder_id: str | None,
    url: str,
    events: Sequence[str],
    allow_private_network: bool,
    owner_id: str | None,
) -> tuple[WebhookRecord, str]:
    """Store a webhook (its URL and events already checked); returns it and its new secret."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    record = WebhookRecord(
        id=str(uuid.uuid4()),
        folder_id=folder_id,
        url=url,
        events=tuple(events),
        allow_private_network=allow_private_network,
        owner_id=owner_id,
        created_at=datetime.now(UTC),
    )
    values = {name: getattr(record, name) for name in WebhookRecord.__dataclass_fields__}
    conn.execute(webhooks.insert().values(**values | {"events": list(record.events), "secret": secret}))
    return record, secret


def get(conn: sa.Connection, webhook_id: str) -> WebhookRecord:
    row = conn.execute(sa.select(*_WEBHOOK).where(webhooks.c.id == webhook_id)).first()
    if row is None:
        raise NotFound("webhook", webhook_id)
    return _webhook(row)


def listed(conn: sa.Connection, condition: sa.ColumnElement[bool] | None = None) -> list[WebhookRecord]:
    """Webhooks (those meeting ``condition`` on ``webhooks`` joined to ``folders``), oldest first."""
    query = sa.select(*_WEBHOOK).select_from(webhooks.outerjoin(folders, folders.c.id == webhooks.c.folder_id))
    if condition is not None:
        query = query.where(condition)
    return [_webhook(row) for row in conn.execute(query.order_by(webhooks.c.created_at, webhooks.c.id))]


def remove(conn: sa.Connection, webhook_id: str) -> None:
    """Delete a webhook and its deliveries (pending ones are never sent)."""
    conn.execute(webhook_deliveries.delete().where(webhook_deliveries.c.webhook_id == webhook_id))
    if conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id)).rowcount != 1:
        raise NotFound("webhook", webhook_id)


# the outbox


def subscribers(conn: sa.Connection, folder_path: str, event: str) -> list[str]:
    """The webhooks that want ``event`` of a job in the folder at ``folder_path``: the
    folder's, its ancestors' and the server-wide ones."""
    names = folder_path.split("/")
    paths = ["/".join(names[:depth]) for depth in range(1, len(names) + 1)]
    found = conn.execute(
        sa.select(webhooks.c.id, webhooks.c.events)
        .select_from(webhooks.outerjoin(folders, folders.c.id == webhooks.c.folder_id))
        .where(sa.or_(webhooks.c.folder_id.is_(None), folders.c.path.in_(paths)))
        .order_by(webhooks.c.created_at, webhooks.c.id)
    ).all()
    return [webhook_id for webhook_id, events in found if event in events]


def enqueue(
    conn: sa.Connection, webhook_ids: Sequence[str], *, event: str, job_id: str, body: dict[str, Any], now: datetime
) -> None:
    """A pending delivery of ``event`` to each webhook; ``body`` is the event's JSON
    (each delivery adds its own id)."""
    rows = []
    for webhook_id in webhook_ids:
        delivery_id = str(uuid.uuid4())
        payload = {"id": delivery_id, "event": event, "createdAt": now.isoformat(), **body}
        rows.append(
            {
                "id": delivery_id,
                "webhook_id": webhook_id,
                "event": event,
                "job_id": job_id,
                "payload": json.dumps(payload, separators=(",", ":"), sort_keys=True),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)


def due(conn: sa.Connection, now: datetime, limit: int, *, job_id: str | None = None) -> list[str]:
    """Pending deliveries whose time has come and that no live claim holds, oldest first."""
    query = (
        sa.select(webhook_deliveries.c.id)
        .where(
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            sa.or_(webhook_deliveries.c.claim_expires_at.is_(None), webhook_deliveries.c.claim_expires_at <= now),
        )
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if job_id is not None:
        query = query.where(webhook_deliveries.c.job_id == job_id)
    return list(conn.execute(query).scalars())


def claim(conn: sa.Connection, delivery_id: str, holder: str, now: datetime, hold_s: float) -> Outgoing | None:
    """Claim a due delivery for ``holder`` until ``now + hold_s``; ``None`` when another
    process claimed it first (or it is no longer due)."""
    taken = conn.execute(
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            sa.or_(webhook_deliveries.c.claim_expires_at.is_(None), webhook_deliveries.c.claim_expires_at <= now),
        )
        .values(claimed_by=holder, claim_expires_at=now + timedelta(seconds=hold_s))
    )
    if taken.rowcount != 1:
        return None
    row = conn.execute(
        sa.select(
            webhook_deliveries.c.id,
            webhook_deliveries.c.webhook_id,
            webhook_deliveries.c.event,
            webhook_deliveries.c.payload,
            webhook_deliveries.c.attempts,
            webhooks.c.url,
            webhooks.c.secret,
            webhooks.c.allow_private_network,
        )
        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .where(webhook_deliveries.c.id == delivery_id)
    ).one()
    return Outgoing(
        id=row.id,
        webhook_id=row.webhook_id,
        event=row.event,
        payload=row.payload.encode(),
        attempts=row.attempts,
        url=row.url,
        secret=row.secret,
        allow_private_network=bool(row.allow_private_network),
    )


def record_attempt(
    conn: sa.Connection,
    delivery_id: str,
    holder: str,
    *,
    now: datetime,
    status: str,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None = None,
) -> None:
    """Record one attempt under ``holder``'s claim and release it: ``status`` delivered,
    failed (no more attempts) or pending (again at ``next_attempt_at``)."""
    values: dict[str, Any] = {
        "status": status,
        "attempts": webhook_deliveries.c.attempts + 1,
        "last_status_code": status_code,
        "last_error": error,
        "last_attempt_at": now,
        "claimed_by": None,
        "claim_expires_at": None,
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if status == "delivered":
        values["delivered_at"] = now
    conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.claimed_by == holder)
        .values(**values)
    )


def send_again(conn: sa.Connection, delivery_id: str, now: datetime) -> bool:
    """Make a failed delivery pending again, due now, with its attempts counted from
    zero (its body, and so its id, stay the same); ``False`` when it had not failed."""
    changed = conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=now, claimed_by=None, claim_expires_at=None)
    )
    return changed.rowcount == 1


def get_delivery(conn: sa.Connection, delivery_id: str) -> Delivery:
    query = sa.select(*(webhook_deliveries.c[name] for name in Delivery.__dataclass_fields__))
    row = conn.execute(query.where(webhook_deliveries.c.id == delivery_id)).first()
    if row is None:
        raise NotFound("delivery", delivery_id)
    return _delivery(row)


def deliveries(
    conn: sa.Connection, webhook_ids: Sequence[str] | None = None, *, limit: int = 100, status: str | None = None
) -> list[Delivery]:
    """Deliveries, newest first: of ``webhook_ids`` (``None``: of every webhook)."""
    query = sa.select(*(webhook_deliveries.c[name] for name in Delivery.__dataclass_fields__))
    if webhook_ids is not None:
        query = query.where(webhook_deliveries.c.webhook_id.in_(list(webhook_ids)))
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    query = query.order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id).limit(limit)
    return [_delivery(row) for row in conn.execute(query)]
