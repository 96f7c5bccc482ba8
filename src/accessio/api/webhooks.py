"""``/api/webhooks``: a folder's or the server's webhooks and their deliveries, as
``accessio webhook ... --json`` shows them (docs/webhooks.md). A folder's webhooks need
the admin role in it; server-wide ones a server administrator; a webhook the caller may
not manage is a 404."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from accessio.api.state import Caller, ServerDep
from accessio.catalog.webhooks import EVENTS
from accessio.service import webhook_registry as registry


class WebhookRequest(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(max_length=registry.MAX_URL)]
    folderId: str | None = None  # noqa: N815  (None: server-wide, for server administrators)
    events: list[str] = msgspec.field(default_factory=lambda: list(EVENTS))
    allowPrivateNetwork: bool = False  # noqa: N815


@post("/webhooks", status_code=200, sync_to_thread=True)
def create_webhook(data: JSONBody[WebhookRequest], server: ServerDep, principal: Caller) -> dict[str, Any]:
    """A new webhook; the answer holds its secret, which no other answer shows."""
    view, secret = registry.create(
        server.app,
        principal,
        data.url,
        folder_id=data.folderId,
        events=data.events,
        allow_private_network=data.allowPrivateNetwork,
    )
    return {**view.to_json(), "secret": secret}


@get("/webhooks", sync_to_thread=True)
def list_webhooks(
    server: ServerDep,
    principal: Caller,
    folder_id: Annotated[str | None, QueryParameter(name="folderId")] = None,
) -> list[dict[str, Any]]:
    """The webhooks the caller manages (of one folder when ``folderId`` is given)."""
    return [view.to_json() for view in registry.list_webhooks(server.app, principal, folder_id=folder_id)]


@delete("/webhooks/{webhook_id:str}", status_code=200, sync_to_thread=True)
def delete_webhook(webhook_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, Any]:
    registry.remove(server.app, principal, webhook_id)
    return {"id": webhook_id, "removed": True}


@get("/webhooks/{webhook_id:str}/deliveries", sync_to_thread=True)
def webhook_deliveries(
    webhook_id: FromPath[str],
    server: ServerDep,
    principal: Caller,
    status: Annotated[str | None, QueryParameter(name="status")] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """One webhook's deliveries, newest first."""
    found = registry.deliveries(server.app, principal, webhook_id=webhook_id, status=status, limit=limit)
    return [registry.delivery_json(d) for d in found]


@get("/webhook-deliveries", sync_to_thread=True)
def all_deliveries(
    server: ServerDep,
    principal: Caller,
    status: Annotated[str | None, QueryParameter(name="status")] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """The deliveries of every webhook the caller manages, newest first."""
    found = registry.deliveries(server.app, principal, status=status, limit=limit)
    return [registry.delivery_json(d) for d in found]


@post("/webhook-deliveries/{delivery_id:str}/retry", status_code=200, sync_to_thread=True)
def retry_delivery(delivery_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, Any]:
    """Send a failed delivery again (409 when it has not failed)."""
    return registry.delivery_json(registry.send_again(server.app, principal, delivery_id))


WEBHOOK_HANDLERS = [create_webhook, list_webhooks, delete_webhook, webhook_deliveries, all_deliveries, retry_delivery]
