"""Who may call what: every route without a token, and the roles on a shared folder."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from accessio.catalog import accounts
from accessio.catalog.schema import api_tokens
from tests.api.conftest import World

_PARAM = re.compile(r"\{(\w+):\w+\}")


def _routes(world: World) -> list[tuple[str, str]]:
    app = world.client.app
    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", ())):
            if method in ("HEAD", "OPTIONS"):
                continue
            found.append((method, route.path_format if hasattr(route, "path_format") else route.path))
    return found


def test_every_route_of_both_apis_needs_a_token(world: World) -> None:
    alice = world.users["alice"]
    checked = 0
    for method, path in _routes(world):
        if not path.startswith(("/v2/", "/api/")):
            continue  # the web app's pages have sessions (tests/web), signed files their signature
        url = _PARAM.sub(alice.folder, path.replace("{folder_id:str}", alice.folder))
        url = re.sub(r"\{\w+\}", alice.folder, url)
        response = world.client.request(method, url, content=b"{}")
        assert response.status_code == 401, (method, path, response.text)
        assert "token" in response.json()["message"]
        assert response.headers["www-authenticate"].startswith("Bearer")
        checked += 1
    assert checked >= 60


def test_signed_routes_without_a_signature_are_not_found(world: World) -> None:
    alice = world.users["alice"]
    for url in (f"/files/{alice.image}", f"/files/{alice.image}/client-metadata"):
        assert world.client.get(url).status_code == 404
    assert world.client.put("/files/upload/x", content=b"data").status_code == 404


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown", "malformed"])
def test_tokens_that_do_not_work(world: World, state: str) -> None:
    with world.app.engine.begin() as conn:
        user = accounts.get_user(conn, "carol")
        token, secret = accounts.create_token(conn, user.id)
        if state == "revoked":
            accounts.revoke_token(conn, token.id)
        if state == "expired":
            past = datetime.now(UTC) - timedelta(seconds=1)
            conn.execute(api_tokens.update().where(api_tokens.c.id == token.id).values(expires_at=past))
    header = {
        "revoked": f"Bearer {secret}",
        "expired": f"Bearer {secret}",
        "unknown": "Bearer acc_" + "x" * 43,
        "malformed": f"Token {secret}",
    }[state]
    response = world.client.get("/v2/public/cloud-integrations", headers={"Authorization": header})
    assert response.status_code == 401
    assert secret not in response.text


def test_tokens_are_stored_as_hashes_only(world: World) -> None:
    alice = world.users["alice"]
    with world.app.engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens)).all()
    assert stored
    assert all(alice.token not in str(tuple(row)) for row in stored)
    assert any(row.token_hash == accounts.hash_token(alice.token) for row in stored)


def _status(world: World, who: str, method: str, url: str, body: object = None) -> int:
    response = world.client.request(method, url, headers=world.users[who].headers, json=body)
    return int(response.status_code)


def test_roles_on_a_shared_folder(world: World) -> None:
    """carol views alice's folder, dave edits it; alice owns it; root is an admin."""
    alice = world.users["alice"]
    folder = f"/v2/public/storage/folders/{alice.folder}"
    item = f"/v2/public/storage/folders/{alice.folder}/items/{alice.image}"

    # viewing: everyone with a role; the role shows as userRole
    for who, role in (("carol", "user"), ("dave", "user"), ("alice", "admin"), ("root", "admin")):
        response = world.client.get(folder, headers=world.users[who].headers)
        assert response.status_code == 200
        assert response.json()["userRole"] == role
    assert _status(world, "carol", "GET", f"/v2/public/storage/folders/{alice.subfolder}") == 200  # inherited

    # editing: editors and up
    assert _status(world, "carol", "PATCH", folder, {"description": "carol was here"}) == 403
    assert _status(world, "dave", "PATCH", folder, {"description": "edited by dave"}) == 200
    assert _status(world, "carol", "PATCH", item, {"clientMetadata": {"owner": "carol"}}) == 403
    assert _status(world, "dave", "PATCH", item, {"clientMetadata": {"owner": "alice-metadata"}}) == 200
    assert _status(world, "carol", "POST", "/v2/public/storage/folders", {"name": "c", "parent": alice.folder}) == 403
    dave = world.users["dave"].headers
    body = {"name": "by-dave", "parent": alice.folder}
    made = world.client.post("/v2/public/storage/folders", headers=dave, json=body)
    assert made.status_code == 200
    by_dave = made.json()["uuid"]
    cancel = f"/v2/public/storage/folders/{alice.folder}/data-upload-jobs/{alice.job}/cancel"
    assert _status(world, "carol", "POST", cancel) == 403

    # administering: renaming, sharing, deleting (the folder's admins: its owner, admins)
    assert _status(world, "dave", "PATCH", f"/v2/public/storage/folders/{by_dave}", {"name": "renamed"}) == 200
    assert _status(world, "dave", "PATCH", folder, {"name": "taken-over"}) == 403
    assert _status(world, "dave", "POST", f"/api/folders/{alice.folder}/shares", {"user": "bob"}) == 403
    assert _status(world, "dave", "DELETE", folder) == 403
    assert _status(world, "carol", "DELETE", f"/v2/public/storage/folders/{by_dave}") == 403
    assert _status(world, "alice", "DELETE", f"/v2/public/storage/folders/{by_dave}") == 200
    assert _status(world, "root", "GET", f"/api/folders/{alice.folder}/shares") == 200

    # registering needs an integration granted to the caller (dave has none: not found)
    spec = {"externalFiles": {"images": [{"objectUrl": "s3://b/a.jpg"}]}, "integrationHash": world.integration}
    jobs = f"/v2/public/storage/folders/{alice.folder}/data-upload-jobs"
    assert _status(world, "carol", "POST", jobs, spec) == 403
    response = world.client.post(jobs, headers=world.users["dave"].headers, json=spec)
    assert (response.status_code, response.json()["message"]) == (404, "integration not found")

    # the metadata schema is the catalog's: its administrators change it
    schema = "/v2/public/organisation/client-metadata-schema-v2"
    assert _status(world, "alice", "POST", schema, {"score": {"ty": "variant", "hint": "number"}}) == 403
    assert _status(world, "alice", "GET", schema) == 200


def test_a_member_sees_only_granted_integrations(world: World) -> None:
    for who, expected in (("alice", ["media"]), ("carol", []), ("root", ["media"])):
        response = world.client.get("/v2/public/cloud-integrations", headers=world.users[who].headers)
        assert [i["title"] for i in response.json()["result"]] == expected


def test_rate_limits(tmp_path: object, world: World) -> None:
    """A token over its rate gets 429 with Retry-After (the SDK waits that long and
    retries); an address that keeps sending bad tokens is slowed the same way."""
    from litestar.testing import TestClient  # noqa: PLC0415

    from accessio.api import ServerSettings, create_app  # noqa: PLC0415

    settings = ServerSettings(rate_limit=2, rate_burst=3, failed_auth_rate=1)
    with TestClient(create_app(settings, world.app)) as client:
        headers = world.users["alice"].headers
        codes = [client.get("/api/me", headers=headers).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200]
        assert 429 in codes[3:]
        limited = client.get("/api/me", headers=headers)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["message"].startswith("too many requests")
        bad = [client.get("/api/me", headers={"Authorization": "Bearer nope"}).status_code for _ in range(25)]
        assert bad[0] == 401
        assert bad[-1] == 429
