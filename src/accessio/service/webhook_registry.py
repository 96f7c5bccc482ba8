"""Webhooks as a principal manages them: make, list, remove, and their deliveries.

- A folder's webhook (its jobs and those of every folder below it) needs the admin role
  in the folder; a server-wide one (every job) needs a server administrator.
- A webhook is seen only by who may manage it: to anyone else it does not exist (404).
- Its URL follows the integrations' address rules, checked now and again at every
  delivery (``service.webhooks``); loopback and private addresses need
  ``allow_private_network``, which only a server administrator may give (as for an
  integration).
- The secret is returned once, by :func:`create`; nothing lists it again.

>>> hook, secret = app.webhooks.add("https://ci.example.com/accessio", folder="datasets/cars")  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from accessio.catalog import folders as folder_store
from accessio.catalog import webhooks as webhook_store
from accessio.catalog.accounts import Role
from accessio.catalog.errors import NotFound
from accessio.catalog.schema import folders, webhook_deliveries, webhooks
from accessio.errors import AccessioError
from accessio.service import lookup
from accessio.service.access import OPERATOR, Forbidden, Principal, Scope, scope_of, storable_text
from accessio.service.webhooks import Deliverer, DeliveryReport, WebhookSettings
from accessio.storage.addresses import AddressPolicy
from accessio.storage.errors import AddressNotAllowed, StorageError

if TYPE_CHECKING:
    from accessio.service.app import Accessio

MAX_URL = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookInvalid(AccessioError):
    """A webhook URL or event list that cannot be used."""

    status = 400
    code = "webhook.invalid"


@dataclass(frozen=True)
class WebhookView:
    """A webhook with its folder's path (``None``: server-wide)."""

    record: webhook_store.WebhookRecord
    folder_path: str | None

    def to_json(self) -> dict[str, Any]:
        """The shape of ``webhook ls --json`` and the API (never the secret)."""
        record = self.record
        return {
            "id": record.id,
            "url": record.url,
            "folder": self.folder_path,
            "folderId": record.folder_id,
            "events": list(record.events),
            "allowPrivateNetwork": record.allow_private_network,
            "createdAt": record.created_at.isoformat(),
        }


def delivery_json(delivery: webhook_store.Delivery) -> dict[str, Any]:
    """A delivery as ``webhook deliveries --json`` and the API show it."""

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": delivery.id,
        "webhookId": delivery.webhook_id,
        "event": delivery.event,
        "jobId": delivery.job_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "nextAttemptAt": when(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "createdAt": when(delivery.created_at),
        "lastAttemptAt": when(delivery.last_attempt_at),
        "deliveredAt": when(delivery.delivered_at),
    }


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    """The events, each one of ``catalog.webhooks.EVENTS`` (in that order, once each)."""
    given = [event.strip() for event in events if event.strip()]
    if not given:
        raise WebhookInvalid(f"a webhook needs at least one event: {', '.join(webhook_store.EVENTS)}")
    for event in given:
        if event not in webhook_store.EVENTS:
            close = difflib.get_close_matches(event, webhook_store.EVENTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise WebhookInvalid(f"event {event!r} is not one of {', '.join(webhook_store.EVENTS)}{hint}")
    return tuple(event for event in webhook_store.EVENTS if event in given)


def check_url(url: str, *, allow_private_network: bool) -> str:
    """The URL if a webhook may post to it: http(s), a host, no user or password, and a
    host whose every address the integrations' rules allow now."""
    if len(url) > MAX_URL:
        raise WebhookInvalid(f"a webhook URL is at most {MAX_URL:,} characters (this one has {len(url):,})")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise WebhookInvalid("a webhook URL may not contain whitespace or control characters")
    storable_text(url, "the webhook URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookInvalid(f"the webhook URL cannot be read ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise WebhookInvalid("a webhook URL is an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        raise WebhookInvalid("a webhook URL may not carry a user name or password (they would not be sent)")
    host = parts.hostname
    try:
        AddressPolicy(allow_private=allow_private_network).resolve(host, port or _DEFAULT_PORTS[parts.scheme.lower()])
    except AddressNotAllowed as exc:
        hint = ""
        if exc.reason in ("loopback", "private network") and not allow_private_network:
            hint = "; a server administrator may allow it (--allow-private-network)"
        raise WebhookInvalid(f"webhook refused: {exc.host} resolves to {exc.address} ({exc.reason}){hint}") from None
    except StorageError as exc:
        raise WebhookInvalid(f"webhook refused: {exc.message}") from None
    return url


def _managed(scope: Scope) -> sa.ColumnElement[bool] | None:
    """The webhooks a principal may manage (on ``webhooks`` joined to ``folders``; ``None``: all)."""
    inside = scope.folder_condition(folders.c.path, least=Role.ADMIN)
    if inside is None:
        return None
    return sa.and_(webhooks.c.folder_id.is_not(None), inside)


def _view(conn: sa.Connection, record: webhook_store.WebhookRecord) -> WebhookView:
    path = folder_store.get_by_id(conn, record.folder_id).path if record.folder_id else None
    return WebhookView(record, path)


def create(
    app: Accessio,
    who: Principal,
    url: str,
    *,
    folder_id: str | None = None,
    events: Iterable[str] = webhook_store.EVENTS,
    allow_private_network: bool = False,
) -> tuple[WebhookView, str]:
    """A new webhook and its secret (shown this once)."""
    chosen = check_events(events)
    if allow_private_network and not who.is_admin:
        raise Forbidden("only a server administrator may let a webhook reach private addresses")
    with app.engine.connect() as conn:
        scope = scope_of(conn, who)
        if folder_id is not None:
            _folder_as_admin(conn, scope, folder_id)
        elif not who.is_admin:
            raise Forbidden("a server-wide webhook needs a server administrator; give a folder")
    check_url(url, allow_private_network=allow_private_network)
    with app.engine.begin() as conn:
        if folder_id is not None:
            folder_store.get_by_id(conn, folder_id)  # still there
        record, secret = webhook_store.add(
            conn,
            folder_id=folder_id,
            url=url,
            events=chosen,
            allow_private_network=allow_private_network,
            owner_id=who.user_id,
        )
        return _view(conn, record), secret


def _folder_as_admin(conn: sa.Connection, scope: Scope, folder_id: str) -> folder_store.Folder:
    try:
        folder = folder_store.get_by_id(conn, folder_id)
    except NotFound:
        raise NotFound("folder", folder_id) from None
    role = scope.role_at(folder.path)
    if role is None:
        raise NotFound("folder", folder_id)
    if role < Role.ADMIN:
        raise Forbidden(f"your role in this folder is {role.wire}; its webhooks need admin")
    return folder


def find(conn: sa.Connection, who: Principal, webhook_id: str) -> WebhookView:
    """A webhook the principal may manage; :class:`NotFound` otherwise."""
    condition: sa.ColumnElement[bool] = webhooks.c.id == webhook_id
    managed = _managed(scope_of(conn, who))
    found = webhook_store.listed(conn, condition if managed is None else sa.and_(condition, managed))
    if not found:
        raise NotFound("webhook", webhook_id)
    return _view(conn, found[0])


def list_webhooks(app: Accessio, who: Principal, *, folder_id: str | None = None) -> list[WebhookView]:
    """The webhooks the principal manages (of one folder, exactly, when ``folder_id`` is given)."""
    with app.engine.connect() as conn:
        scope = scope_of(conn, who)
        condition = _managed(scope)
        if folder_id is not None:
            _folder_as_admin(conn, scope, folder_id)
            condition = webhooks.c.folder_id == folder_id  # the folder's admin manages all of its webhooks
        records = webhook_store.listed(conn, condition)
        paths = dict(
            conn.execute(
                sa.select(folders.c.id, folders.c.path).where(
                    folders.c.id.in_({r.folder_id for r in records if r.folder_id})
                )
            ).all()
        )
    return [WebhookView(r, paths.get(r.folder_id) if r.folder_id else None) for r in records]


def remove(app: Accessio, who: Principal, webhook_id: str) -> None:
    """Delete a webhook the principal manages, with its deliveries."""
    with app.engine.begin() as conn:
        find(conn, who, webhook_id)
        webhook_store.remove(conn, webhook_id)


def deliveries(
    app: Accessio, who: Principal, *, webhook_id: str | None = None, limit: int = 100, status: str | None = None
) -> list[webhook_store.Delivery]:
    """Deliveries of the webhooks the principal manages (or of one), newest first."""
    if status is not None and status not in webhook_store.STATUSES:
        raise WebhookInvalid(f"status {status!r} is not one of {', '.join(webhook_store.STATUSES)}")
    with app.engine.connect() as conn:
        if webhook_id is not None:
            ids: list[str] | None = [find(conn, who, webhook_id).record.id]
        else:
            condition = _managed(scope_of(conn, who))
            ids = None if condition is None else [r.id for r in webhook_store.listed(conn, condition)]
        return webhook_store.deliveries(conn, ids, limit=limit, status=status)


class DeliveryNotFailed(AccessioError):
    """Only a failed delivery can be sent again."""

    status = 409
    code = "webhook.delivery_not_failed"


def send_again(app: Accessio, who: Principal, delivery_id: str) -> webhook_store.Delivery:
    """Send a failed delivery again (after the receiver was fixed): pending, due now,
    attempts from zero, the same id and body. A delivery that has not failed is left as
    it is (409); one of a webhook the principal does not manage does not exist for them."""
    with app.engine.begin() as conn:
        try:
            delivery = webhook_store.get_delivery(conn, delivery_id)
            find(conn, who, delivery.webhook_id)
        except NotFound:
            raise NotFound("delivery", delivery_id) from None
        if not webhook_store.send_again(conn, delivery.id, datetime.now(UTC)):
            raise DeliveryNotFailed(f"delivery {delivery.id} is {delivery.status}: only a failed one is sent again")
        return webhook_store.get_delivery(conn, delivery.id)


class Webhooks:
    """The catalog's webhooks with the operator's rights: ``app.webhooks``.

    >>> hook, secret = app.webhooks.add("https://ci.example.com/accessio", folder="datasets/cars")  # doctest: +SKIP
    >>> app.webhooks.deliver().delivered  # doctest: +SKIP
    1
    """

    def __init__(self, app: Accessio, who: Principal = OPERATOR) -> None:
        self._app = app
        self._who = who

    def _full_id(self, webhook_id: str) -> str:
        with self._app.engine.connect() as conn:
            return lookup.full_id(conn, webhooks.c.id, webhook_id, "webhook")

    def add(
        self,
        url: str,
        *,
        folder: str | None = None,
        events: Iterable[str] = webhook_store.EVENTS,
        allow_private_network: bool = False,
    ) -> tuple[WebhookView, str]:
        """Post the end of every job (of a folder and the folders below it, or of all
        folders) to ``url``; returns the webhook and its secret, shown this once."""
        folder_id = None
        if folder is not None:
            with self._app.engine.connect() as conn:
                folder_id = lookup.folder(conn, folder).id
        return create(
            self._app, self._who, url, folder_id=folder_id, events=events, allow_private_network=allow_private_network
        )

    def all(self, *, folder: str | None = None) -> list[WebhookView]:
        """Every webhook (of one folder, exactly, when ``folder`` is given); never their secrets."""
        folder_id = None
        if folder is not None:
            with self._app.engine.connect() as conn:
                folder_id = lookup.folder(conn, folder).id
        return list_webhooks(self._app, self._who, folder_id=folder_id)

    def remove(self, webhook_id: str) -> str:
        """Delete a webhook (by id or a unique start of it) and its deliveries; its whole id."""
        found = self._full_id(webhook_id)
        remove(self._app, self._who, found)
        return found

    def deliveries(
        self, webhook_id: str | None = None, *, limit: int = 100, status: str | None = None
    ) -> list[webhook_store.Delivery]:
        webhook_id = self._full_id(webhook_id) if webhook_id is not None else None
        return deliveries(self._app, self._who, webhook_id=webhook_id, limit=limit, status=status)

    def send_again(self, delivery_id: str) -> webhook_store.Delivery:
        """Make a failed delivery (by id or a unique start of it) pending again, due now."""
        with self._app.engine.connect() as conn:
            found = lookup.full_id(conn, webhook_deliveries.c.id, delivery_id, "delivery")
        return send_again(self._app, self._who, found)

    def deliver(
        self, *, job_id: str | None = None, time_limit_s: float | None = None, settings: WebhookSettings | None = None
    ) -> DeliveryReport:
        """Send the deliveries due now (of one job when ``job_id`` is given), each once;
        failed ones are scheduled again. ``time_limit_s`` bounds the round."""
        deliverer = Deliverer(self._app.engine, settings, self._app.holder)
        try:
            deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
            return deliverer.deliver_due(job_id=job_id, deadline=deadline)
        finally:
            deliverer.close()
