"""``/api/webhooks`` through an in-process server: who may make, see and remove which
webhook; the secret shown once; the server sending deliveries by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from accessio.api import ServerSettings, create_app
from accessio.catalog import accounts
from accessio.catalog import jobs as job_store
from accessio.catalog.accounts import Role
from accessio.catalog.schema import webhook_deliveries
from accessio.service import Accessio, Principal
from accessio.service import folders as folder_service
from accessio.service.webhooks import WebhookSettings
from tests.webhooks.conftest import register
from tests.webhooks.receiver import receiving, verify

PUBLIC = "https://93.184.216.34/hook"


@dataclass
class Server:
    app: Accessio
    client: TestClient[Any]
    headers: dict[str, dict[str, str]]  # per user name
    folders: dict[str, str]  # per user name: the id of the folder they own


@pytest.fixture
def server(app: Accessio) -> Iterator[Server]:
    headers, folders = {}, {}
    for name in ("alice", "bob", "carol", "root"):
        with app.engine.begin() as conn:
            user = accounts.add_user(conn, name, is_admin=name == "root")
            _, token = accounts.create_token(conn, user.id)
        headers[name] = {"Authorization": f"Bearer {token}"}
        if name in ("alice", "bob"):
            who = Principal(user.id, name, False)
            folders[name] = folder_service.create_folder(app, who, f"{name}-folder").folder.id
    alice = Principal(accounts_id(app, "alice"), "alice", False)
    folder_service.share(app, alice, folders["alice"], "carol", Role.EDITOR)
    settings = ServerSettings(rate_limit=0, failed_auth_rate=0, webhooks=WebhookSettings(poll_s=0.05))
    with TestClient(create_app(settings, app)) as client:
        yield Server(app, client, headers, folders)


def accounts_id(app: Accessio, name: str) -> str:
    with app.engine.connect() as conn:
        return accounts.get_user(conn, name).id


def _create(server: Server, who: str, **body: Any) -> Any:
    return server.client.post("/api/webhooks", json=body, headers=server.headers[who])


def test_a_folder_admin_makes_a_webhook_and_sees_its_secret_once(server: Server) -> None:
    made = _create(server, "alice", url=PUBLIC, folderId=server.folders["alice"], events=["job.finished"])
    assert made.status_code == 200, made.text
    shown = made.json()
    secret = shown.pop("secret")
    assert secret.startswith("whsec_")
    assert shown["folder"] == "alice-folder"
    assert (shown["url"], shown["events"], shown["allowPrivateNetwork"]) == (PUBLIC, ["job.finished"], False)
    listed = server.client.get("/api/webhooks", headers=server.headers["alice"])
    assert listed.json() == [shown]
    assert secret not in listed.text
    deliveries = server.client.get(f"/api/webhooks/{shown['id']}/deliveries", headers=server.headers["alice"])
    assert (deliveries.status_code, deliveries.json()) == (200, [])
    gone = server.client.delete(f"/api/webhooks/{shown['id']}", headers=server.headers["alice"])
    assert gone.json() == {"id": shown["id"], "removed": True}
    assert server.client.get("/api/webhooks", headers=server.headers["alice"]).json() == []


def test_another_users_folder_webhook_does_not_exist_for_them(server: Server) -> None:
    hook = _create(server, "alice", url=PUBLIC, folderId=server.folders["alice"]).json()["id"]
    for who in ("bob", "carol"):  # bob does not see the folder; carol edits it but does not administer it
        headers = server.headers[who]
        assert server.client.get("/api/webhooks", headers=headers).json() == []
        assert server.client.get(f"/api/webhooks/{hook}/deliveries", headers=headers).status_code == 404
        assert server.client.delete(f"/api/webhooks/{hook}", headers=headers).status_code == 404
        assert server.client.get("/api/webhooks", params={"folderId": server.folders["alice"]},
                                 headers=headers).status_code == (404 if who == "bob" else 403)  # fmt: skip
    assert _create(server, "bob", url=PUBLIC, folderId=server.folders["alice"]).status_code == 404
    refused = _create(server, "carol", url=PUBLIC, folderId=server.folders["alice"])
    assert refused.status_code == 403
    assert "editor" in refused.json()["message"]
    assert len(server.client.get("/api/webhooks", headers=server.headers["alice"]).json()) == 1


def test_server_wide_webhooks_and_private_addresses_need_a_server_admin(server: Server) -> None:
    assert _create(server, "alice", url=PUBLIC).status_code == 403
    private = _create(server, "alice", url="http://127.0.0.1:9/", folderId=server.folders["alice"],
                      allowPrivateNetwork=True)  # fmt: skip
    assert private.status_code == 403
    refused = _create(server, "alice", url="http://127.0.0.1:9/", folderId=server.folders["alice"])
    assert refused.status_code == 400
    assert "loopback" in refused.json()["message"]
    everywhere = _create(server, "root", url=PUBLIC)
    assert everywhere.status_code == 200
    assert server.client.get("/api/webhooks", headers=server.headers["alice"]).json() == []
    assert [h["id"] for h in server.client.get("/api/webhooks", headers=server.headers["root"]).json()] == [
        everywhere.json()["id"]
    ]
    assert server.client.get(f"/api/webhooks/{everywhere.json()['id']}/deliveries",
                             headers=server.headers["alice"]).status_code == 404  # fmt: skip


def test_bad_bodies_are_400s_that_say_what(server: Server) -> None:
    folder = server.folders["alice"]
    unknown = _create(server, "alice", url=PUBLIC, folderId=folder, event=["job.finished"])
    assert unknown.status_code == 400
    assert "event" in unknown.text
    misspelt = _create(server, "alice", url=PUBLIC, folderId=folder, events=["job.finish"])
    assert misspelt.status_code == 400
    assert "did you mean 'job.finished'" in misspelt.json()["message"]
    status = server.client.get("/api/webhook-deliveries", params={"status": "late"}, headers=server.headers["alice"])
    assert status.status_code == 400


def test_a_failed_delivery_is_sent_again_only_by_who_manages_its_webhook(server: Server) -> None:
    with receiving() as receiver:
        body = {"url": receiver.url(), "folderId": server.folders["alice"], "allowPrivateNetwork": True}
        hook = _create(server, "root", **body).json()["id"]  # alice administers her folder's webhooks
        with server.app.engine.begin() as conn:  # a job of alice's folder ended, its delivery failed for good
            job = job_store.create(
                conn, folder_id=server.folders["alice"], integration_id=server.app.integration_record("media").id,
                file_name=None, ignore_errors=False, skip_duplicate_urls=False, upsert_metadata=False, units=b"",
                units_total=0,
            )  # fmt: skip
            job_store.set_status(conn, job.id, "DONE", finished=True)
            conn.execute(webhook_deliveries.update().values(status="failed", attempts=10))
        (delivery,) = server.client.get(f"/api/webhooks/{hook}/deliveries", headers=server.headers["alice"]).json()
        url = f"/api/webhook-deliveries/{delivery['id']}/retry"
        assert server.client.post(url, headers=server.headers["bob"]).status_code == 404
        again = server.client.post(url, headers=server.headers["alice"])
        assert (again.status_code, again.json()["status"], again.json()["attempts"]) == (200, "pending", 0)
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:  # the server sends it
            time.sleep(0.02)
        assert [r.headers["Accessio-Delivery"] for r in receiver.requests] == [delivery["id"]]
    assert server.client.post(url, headers=server.headers["alice"]).status_code == 409


def test_the_server_sends_deliveries_by_itself(server: Server, media: Path) -> None:
    with receiving() as receiver:
        made = _create(server, "root", url=receiver.url(), allowPrivateNetwork=True).json()
        job = register(server.app, media, "boats")
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        (request,) = receiver.requests
    assert verify(made["secret"], request.headers, request.body)
    assert job.id.encode() in request.body
    deliveries = server.client.get("/api/webhook-deliveries", headers=server.headers["root"]).json()
    assert [(d["status"], d["jobId"], d["attempts"]) for d in deliveries] in (
        [("delivered", job.id, 1)],
        [("pending", job.id, 0)],  # read before the sender recorded its answer
    )
