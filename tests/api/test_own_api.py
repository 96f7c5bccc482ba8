"""Accessio's own API (/api): the CLI's --json shapes over HTTP, scoped to the caller."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from accessio.api import ServerSettings, create_app
from tests.api.conftest import World


def _post(world: World, who: str, url: str, body: bytes, **params: Any) -> Any:
    return world.client.post(url, headers=world.users[who].headers, content=body, params=params)


def test_spec_validate_gives_the_cli_report(world: World) -> None:
    bad = b'{"videos": [{"objectUrl": "s3://b/v one.mp4", "titel": "x"}]}'
    report = _post(world, "carol", "/api/spec/validate", bad, name="bad.json").json()
    assert report["valid"] is False
    assert [(e["location"], e["code"]) for e in report["errors"]] == [
        ("videos[0].titel", "spec.unknown_key"),
        ("videos[0].objectUrl", "url.whitespace"),
    ]
    good = _post(world, "carol", "/api/spec/validate", b"ObjectUrl,Image title\ns3://b/a.jpg,\n", name="a.csv").json()
    assert (report["error_count"], report["truncated"]) == (2, False)
    assert good == {
        "file": "a.csv",
        "valid": True,
        "units": {"image": 1},
        "urls": 1,
        "errors": [],
        "error_count": 0,
        "truncated": False,
    }


def test_a_job_from_a_csv_body_with_failures_and_its_reports(world: World) -> None:
    alice = world.users["alice"]
    present = (world.media / "alice-0.jpg").as_uri()
    missing = (world.media / "gone.jpg").as_uri()
    body = f"ObjectUrl,Image title\n{present},kept\n{missing},=lost\n".encode()
    url = f"/api/folders/{alice.subfolder}/jobs"
    shown = _post(world, "alice", url, body, integration="media", ignoreErrors="true", name="upload.csv").json()
    assert (shown["status"], shown["fileName"]) in (("PENDING", "upload.csv"), ("DONE", "upload.csv"))
    job = shown["id"]
    done = world.client.get(
        f"/v2/public/storage/folders/{alice.subfolder}/data-upload-jobs/{job}?timeoutSeconds=30", headers=alice.headers
    ).json()
    assert (done["status"], done["unitsDoneCount"], done["unitsErrorCount"]) == ("DONE", 1, 1)
    assert done["unitErrors"][0]["objectUrls"] == [missing]
    csv = world.client.get(f"/api/jobs/{job}/failures.csv", headers=alice.headers)
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "object_url,title,item_type,error,action"
    assert lines[1].startswith(f"{missing},'=lost,image,")  # a formula is defused
    retry = world.client.get(f"/api/jobs/{job}/retry-spec", headers=alice.headers).json()
    assert retry["images"] == [{"objectUrl": missing, "title": "=lost"}]
    listed = world.client.get("/api/jobs", headers=alice.headers).json()
    assert job in [j["id"] for j in listed]
    assert job not in [j["id"] for j in world.client.get("/api/jobs", headers=world.users["bob"].headers).json()]


def test_an_invalid_spec_is_a_400_with_located_issues_and_nothing_is_stored(world: World) -> None:
    alice = world.users["alice"]
    before = len(world.client.get("/api/jobs", headers=alice.headers).json())
    response = _post(
        world, "alice", f"/api/folders/{alice.folder}/jobs", b'{"images": [{"objectUrl": ""}]}', integration="media"
    )
    assert response.status_code == 400
    body = response.json()
    assert [(i["location"], i["code"]) for i in body["issues"]] == [("images[0].objectUrl", "url.empty")]
    assert body["issueCount"] == 1
    assert body["issues"][0]["message"]
    assert body["message"].startswith("spec.json is not a valid upload spec")
    assert len(world.client.get("/api/jobs", headers=alice.headers).json()) == before


def test_dry_run_counts_duplicates_and_reads_a_sample(world: World) -> None:
    alice = world.users["alice"]
    spec = json.dumps({"images": [{"objectUrl": (world.media / "alice-0.jpg").as_uri()}]}).encode()
    report = _post(world, "alice", f"/api/folders/{alice.folder}/dry-run", spec, integration="media").json()
    assert (report["units"], report["duplicates"], report["reachable"], report["unreachable"]) == (1, 1, 1, [])


def test_items_with_a_filter_a_sort_and_a_cursor(world: World) -> None:
    alice = world.users["alice"]
    url = f"/api/folders/{alice.folder}/items"
    first = world.client.get(url, headers=alice.headers, params={"limit": 1, "sort": "name", "desc": "true"}).json()
    assert [i["name"] for i in first["items"]] == ["alice-image"]
    second = world.client.get(
        url, headers=alice.headers, params={"limit": 1, "sort": "name", "desc": "true", "after": first["nextCursor"]}
    ).json()
    assert [i["name"] for i in second["items"]] == ["alice-group"]
    assert second["nextCursor"] is None
    filtered = world.client.get(url, headers=alice.headers, params={"where": 'owner = "alice-metadata"'}).json()
    assert [i["name"] for i in filtered["items"]] == ["alice-image"]
    broken = world.client.get(url, headers=alice.headers, params={"where": "width >"})
    assert broken.status_code == 400
    assert broken.json()["code"] == "filter"
    shown = world.client.get(f"/api/items/{alice.group}", headers=alice.headers).json()
    assert [c["uuid"] for c in shown["children"]][:1] == [alice.frame]


def test_tokens_of_ones_own(world: World) -> None:
    carol = world.users["carol"]
    made = world.client.post("/api/tokens", headers=carol.headers, json={"label": "ci", "expiresDays": 7}).json()
    assert made["token"].startswith("acc_")
    assert made["label"] == "ci"
    fresh = {"Authorization": f"Bearer {made['token']}"}
    assert world.client.get("/api/me", headers=fresh).json() == {"name": "carol", "isAdmin": False}
    listed = world.client.get("/api/tokens", headers=carol.headers).json()
    assert made["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)
    assert world.client.delete(f"/api/tokens/{made['id']}", headers=world.users["bob"].headers).status_code == 404
    assert world.client.delete(f"/api/tokens/{made['id']}", headers=carol.headers).json()["revoked"] is True
    assert world.client.get("/api/me", headers=fresh).status_code == 401


def test_bodies_over_the_limit_are_refused(world: World) -> None:
    with TestClient(create_app(ServerSettings(max_body_bytes=1000, rate_limit=0), world.app)) as client:
        alice = world.users["alice"]
        response = client.post("/api/spec/validate", headers=alice.headers, content=b"{" + b" " * 2000 + b"}")
        assert response.status_code == 413
        assert "1,000 bytes" in response.json()["message"]
        folder = client.post(
            "/v2/public/storage/folders", headers=alice.headers, json={"name": "x" * 100, "description": "y" * 2000}
        )
        assert folder.status_code == 413
        assert folder.json()["message"]


def test_similarity_map_and_verify_see_only_the_callers_items(world: World) -> None:
    alice, bob, root = world.users["alice"], world.users["bob"], world.users["root"]
    for who in (alice, bob):  # a value stored before the schema types its key
        patch = {"clientMetadata": {"owner": f"{who.name}-metadata", "level": "high"}}
        url = f"/v2/public/storage/folders/{who.folder}/items/{who.image}"
        assert world.client.patch(url, headers=who.headers, json=patch).status_code == 200
    schema = {"clip": {"ty": "embedding", "size": 2, "api": None}, "level": {"ty": "variant", "hint": "number"}}
    saved = world.client.post("/v2/public/organisation/client-metadata-schema-v2", headers=root.headers, json=schema)
    assert saved.status_code == 200
    for who, vector in ((alice, [1.0, 0.0]), (bob, [0.9, 0.1])):
        url = f"/v2/public/storage/folders/{who.folder}/items/{who.group}"
        response = world.client.patch(url, headers=who.headers, json={"clientMetadata": {"clip": vector}})
        assert response.status_code == 200, response.text
        assert json.loads(response.json()["clientMetadata"]) == {}  # vectors live beside the metadata
    hits = world.client.post("/api/search/similar", headers=alice.headers, json={"key": "clip", "vector": [1, 0]})
    assert [h["itemId"] for h in hits.json()["hits"]] == [alice.group]
    everyone = world.client.post("/api/search/similar", headers=root.headers, json={"key": "clip", "vector": [1, 0]})
    assert [h["itemId"] for h in everyone.json()["hits"]] == [alice.group, bob.group]
    points = world.client.get("/api/embeddings/clip/map", headers=bob.headers).json()["points"]
    assert [p["item"] for p in points] == [bob.group]
    wrong = world.client.patch(
        f"/v2/public/storage/folders/{alice.folder}/items/{alice.image}",
        headers=alice.headers,
        json={"clientMetadata": {"clip": [1, 2, 3]}},
    )
    assert wrong.status_code == 400
    assert "clip" in wrong.json()["message"]
    for who in (alice, bob):
        found = world.client.get("/api/schema/verify", headers=who.headers).json()["violations"]
        assert [(v["itemId"], v["key"], v["value"]) for v in found] == [(who.image, "level", "high")]


def test_resume_takes_up_an_interrupted_job(world: World) -> None:
    from accessio.catalog import jobs as job_store  # noqa: PLC0415
    from accessio.service import jobs as job_service  # noqa: PLC0415
    from accessio.spec import parse_spec  # noqa: PLC0415

    alice = world.users["alice"]
    url = (world.media / "alice-1.jpg").as_uri()
    spec = parse_spec(json.dumps({"images": [{"objectUrl": url, "title": "again"}]}).encode())
    job = job_service.submit(world.app, alice.principal, alice.subfolder, spec, integration=world.integration)
    with world.app.engine.begin() as conn:  # as a process that started it and died would leave it
        job_store.set_status(conn, job.id, "PENDING", started=True)
    assert world.client.get(f"/api/jobs/{job.id}", headers=alice.headers).json()["state"] == "interrupted"
    assert world.client.post(f"/api/jobs/{job.id}/resume", headers=world.users["carol"].headers).status_code == 403
    resumed = world.client.post(f"/api/jobs/{job.id}/resume", headers=alice.headers)
    assert resumed.status_code == 200, resumed.text
    poll = f"/v2/public/storage/folders/{alice.subfolder}/data-upload-jobs/{job.id}?timeoutSeconds=30"
    assert world.client.get(poll, headers=alice.headers).json()["status"] == "DONE"


def test_metadata_written_back_keeps_its_vectors_and_null_deletes_one(world: World) -> None:
    alice, root = world.users["alice"], world.users["root"]
    schema = {"tag": {"ty": "embedding", "size": 2, "api": None}}
    world.client.post("/v2/public/organisation/client-metadata-schema-v2", headers=root.headers, json=schema)
    url = f"/v2/public/storage/folders/{alice.folder}/items/{alice.image}"
    assert world.client.patch(url, headers=alice.headers, json={"clientMetadata": {"tag": [1, 1]}}).status_code == 200
    got = world.client.get(f"/v2/public/storage/items/{alice.image}", headers=alice.headers).json()
    read = json.loads(got["clientMetadata"])
    read["note"] = "edited"  # the SDK's round trip: read (no vectors in it), change, write back
    assert world.client.patch(url, headers=alice.headers, json={"clientMetadata": read}).status_code == 200
    assert world.app.item(alice.image)["embeddings"] == {"tag": {"size": 2, "item": True}}
    assert world.client.patch(url, headers=alice.headers, json={"clientMetadata": {"tag": None}}).status_code == 200
    assert "embeddings" not in world.app.item(alice.image)


def test_client_metadata_as_signed_urls(world: World) -> None:
    """E24 with ``clientMetadataAsSignedUrl=True``: metadata "{}" in the item, a signed URL
    (no token needed) that answers it (E38)."""
    bob = world.users["bob"]
    url = f"/v2/public/storage/folders/{bob.folder}/items?clientMetadataAsSignedUrl=True"
    listed = {i["name"]: i for i in world.client.get(url, headers=bob.headers).json()["results"]}
    image = listed["bob-image"]
    assert image["clientMetadata"] == "{}"
    signed = image["clientMetadataSignedUrl"].removeprefix("http://testserver.local")
    assert world.client.get(signed).json() == world.app.item(bob.image)["clientMetadata"]
    assert world.client.get(signed.replace("signature=", "signature=0")).status_code == 404


def test_a_job_takes_the_frame_rate_of_its_image_sequences(world: World) -> None:
    alice = world.users["alice"]
    world.app.set_write_prefix("media", str(world.media / "videos"))
    try:
        frames = [(world.media / f"alice-{n}.jpg").as_uri() for n in range(3)]
        group = {"title": "walk", "createVideo": True, **{f"objectUrl_{n}": u for n, u in enumerate(frames)}}
        body = json.dumps({"image_groups": [group]}).encode()
        url = f"/api/folders/{alice.subfolder}/jobs"
        refused = _post(world, "alice", url, body, integration="media", sequenceFps="500")
        assert refused.status_code == 400
        assert "0.1 to 240 fps" in refused.json()["message"]
        job = _post(world, "alice", url, body, integration="media", sequenceFps="4").json()["id"]
        done = world.client.get(
            f"/v2/public/storage/folders/{alice.subfolder}/data-upload-jobs/{job}?timeoutSeconds=30",
            headers=alice.headers,
        ).json()
        assert done["status"] == "DONE", done["unitErrors"]
        (item_id, _), = [(i["itemUuid"], i["name"]) for i in done["itemsWithNames"]]
        item = world.client.get(f"/api/items/{item_id}", headers=alice.headers).json()
        assert (item["itemType"], item["fps"], item["frameCount"]) == ("imageSequence", 4.0, 3)
    finally:
        world.app.set_write_prefix("media", None)
