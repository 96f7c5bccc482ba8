"""Tenancy: every id of one member's folders, items and jobs, tried by another member
on every endpoint, gets a 404 (as an id that does not exist) and no byte of the
first member's data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Tenant, World

# (method, path, JSON body); {f} {s} {i} {g} {c} {j}: the victim's folder, subfolder,
# image, group, frame and job; {F} {I}: the caller's own folder and image.
CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/v2/public/storage/folders/{f}", None),
    ("GET", "/v2/public/storage/folders/{s}", None),
    ("GET", "/v2/public/storage/folders/{f}/folders?isRecursive=True", None),
    ("GET", "/v2/public/storage/folders/{f}/summary", None),
    ("PATCH", "/v2/public/storage/folders/{f}", {"description": "x"}),
    ("PATCH", "/v2/public/storage/folders/{s}", {"name": "renamed"}),
    ("DELETE", "/v2/public/storage/folders/{f}", None),
    ("POST", "/v2/public/storage/folders", {"name": "intruder", "parent": "{f}"}),
    ("POST", "/v2/public/storage/folders/move", {"folderUuids": ["{f}"]}),
    ("POST", "/v2/public/storage/folders/move", {"folderUuids": ["{F}"], "newParentUuid": "{f}"}),
    ("GET", "/v2/public/storage/folders/{f}/items", None),
    ("GET", "/v2/public/storage/folders/{f}/items?isRecursive=True&signUrls=True", None),
    ("GET", "/v2/public/storage/items/{i}", None),
    ("GET", "/v2/public/storage/items/{i}?signUrl=True", None),
    ("GET", "/v2/public/storage/items/{c}", None),
    ("POST", "/v2/public/storage/items/get-bulk", {"itemUuids": ["{I}", "{i}"], "signUrls": True}),
    ("PATCH", "/v2/public/storage/folders/{f}/items/{i}", {"clientMetadata": {"x": 1}}),
    ("PATCH", "/v2/public/storage/folders/{F}/items/{i}", {"name": "x"}),
    ("PATCH", "/v2/public/storage/items/patch-bulk", {"itemPatches": {"{i}": {"name": "x"}}}),
    ("GET", "/v2/public/storage/folders/{f}/items/{g}/child-items", None),
    ("GET", "/v2/public/storage/folders/{F}/items/{g}/child-items?signUrls=True", None),
    ("POST", "/v2/public/storage/folders/{f}/items/move", {"itemUuids": ["{i}"], "newParentUuid": "{F}"}),
    ("POST", "/v2/public/storage/folders/{F}/items/move", {"itemUuids": ["{I}"], "newParentUuid": "{f}"}),
    ("POST", "/v2/public/storage/folders/{F}/items/move", {"itemUuids": ["{i}"], "newParentUuid": "{F}"}),
    ("POST", "/v2/public/storage/folders/{f}/items/delete", {"childUuids": ["{i}"]}),
    ("POST", "/v2/public/storage/folders/{F}/items/delete", {"childUuids": ["{i}"]}),
    ("POST", "/v2/public/storage/folders/{f}/data-upload-jobs", {"externalFiles": {"images": [{"objectUrl": "s3://b/a.jpg"}]}, "integrationHash": "{n}"}),  # noqa: E501
    ("GET", "/v2/public/storage/folders/{f}/data-upload-jobs/{j}?timeoutSeconds=1", None),
    ("GET", "/v2/public/storage/folders/{F}/data-upload-jobs/{j}?timeoutSeconds=1", None),
    ("POST", "/v2/public/storage/folders/{f}/data-upload-jobs/{j}/cancel", None),
    ("POST", "/v2/public/storage/folders/{F}/data-upload-jobs/{j}/cancel", None),
    ("POST", "/v2/public/storage/folders/{f}/upload-signed-urls", {"itemType": "image", "count": 1}),
    ("GET", "/api/folders/{f}/items", None),
    ("GET", "/api/items/{i}", None),
    ("GET", "/api/items/{g}", None),
    ("GET", "/api/jobs/{j}", None),
    ("GET", "/api/jobs/{j}/failures.csv", None),
    ("GET", "/api/jobs/{j}/retry-spec", None),
    ("POST", "/api/jobs/{j}/cancel", None),
    ("POST", "/api/jobs/{j}/resume", None),
    ("GET", "/api/folders/{f}/shares", None),
    ("POST", "/api/folders/{f}/shares", {"user": "bob", "role": "admin"}),
    ("DELETE", "/api/folders/{f}/shares/carol", None),
    ("POST", "/api/search/similar", {"key": "clip", "item": "{i}"}),
    ("POST", "/api/search/similar", {"key": "clip", "vector": [1, 0], "folder": "{f}"}),
    ("GET", "/files/{i}", None),
    ("GET", "/files/{i}/client-metadata", None),
]

# Calls that list: they answer, but nothing of the victim's.
LISTINGS: list[tuple[str, str]] = [
    ("GET", "/v2/public/storage/folders"),
    ("GET", "/v2/public/storage/search/folders?search=secret"),
    ("GET", "/v2/public/storage/folders/{F}/items?isRecursive=True"),
    ("GET", "/v2/public/cloud-integrations"),
    ("GET", "/api/jobs"),
    ("GET", "/api/schema/verify"),
    ("GET", "/api/folders/{F}/items?where=name%20%3D%20%22alice-image%22"),
]


def _fill(text: str, victim: Tenant, caller: Tenant, integration: str) -> str:
    names = {
        "f": victim.folder, "s": victim.subfolder, "i": victim.image, "g": victim.group, "c": victim.frame,
        "j": victim.job, "F": caller.folder, "I": caller.image, "n": integration,
    }  # fmt: skip
    for key, value in names.items():
        text = text.replace("{" + key + "}", value)
    return text


def _call(world: World, caller: Tenant, method: str, path: str, body: Any) -> Any:
    return world.client.request(method, path, headers=caller.headers, content=body, timeout=30)


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=[f"{m} {p}" for m, p, _ in CALLS])
@pytest.mark.parametrize(("victim", "intruder"), [("alice", "bob"), ("bob", "alice")])
def test_another_members_ids_are_not_found(
    world: World, victim: str, intruder: str, method: str, path: str, body: Any
) -> None:
    them, me = world.users[victim], world.users[intruder]
    url = _fill(path, them, me, world.integration)
    content = None if body is None else _fill(json.dumps(body), them, me, world.integration).encode()
    response = _call(world, me, method, url, content)
    assert response.status_code == 404, response.text
    assert response.json()["message"].endswith("not found")
    for secret in them.secrets:
        assert secret not in response.text


@pytest.mark.parametrize(("method", "path"), LISTINGS, ids=[f"{m} {p}" for m, p in LISTINGS])
def test_listings_hold_nothing_of_another_member(world: World, method: str, path: str) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    response = _call(world, bob, method, _fill(path, alice, bob, world.integration), None)
    assert response.status_code == 200, response.text
    for secret in alice.secrets:
        assert secret not in response.text
    own = _call(world, alice, method, _fill(path, bob, alice, world.integration), None)
    assert own.status_code == 200


def test_the_victims_data_is_unchanged_after_the_attempts(world: World) -> None:
    alice = world.users["alice"]
    item = world.app.item(alice.image)
    assert item["clientMetadata"] == {"owner": "alice-metadata"}
    assert item["parent"] == alice.folder
    assert world.app.job(alice.job).status == "DONE"
    names = [row["name"] for row in world.app.items_page("alice-secret-folder").items]
    assert names == ["alice-group", "alice-image"]
