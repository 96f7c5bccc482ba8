"""Synced folders on moto's S3 server: ETags say what changed, a copy under a new key is a
move, and bucket notifications sync the objects they name without any listing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accessio.service import Accessio
from tests.samples import jpeg_bytes
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, moto_s3  # noqa: F401

BUCKET = "synced-bucket"


@pytest.fixture
def moto(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:  # noqa: F811
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    moto_s3.bucket(BUCKET)
    listed = moto_s3.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for obj in listed:
        moto_s3.client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return moto_s3


@pytest.fixture
def app(tmp_path: Path, moto: MotoS3) -> Iterator[Accessio]:
    with Accessio(str(tmp_path / "catalog.db")) as accessio:
        accessio.add_integration(
            "bucket",
            "s3Compatible",
            root=BUCKET,
            endpoint=moto.endpoint,
            credentials="env:MOTO",
            allow_private_network=True,
        )
        accessio.create_folder("cams", sync=("bucket", f"{moto.endpoint}/{BUCKET}/cams/"))
        yield accessio


def names(app: Accessio) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in app.items("cams", limit=1000)}


def listings(moto: MotoS3) -> list[Any]:
    return [r for r in moto.requests(method="GET") if r.path.rstrip("/") == f"/{BUCKET}" and "list-type" in r.query]


def test_a_bucket_prefix_synced_added_changed_moved_deleted(app: Accessio, moto: MotoS3) -> None:
    for n in range(3):
        moto.put(BUCKET, f"cams/a{n}.jpg", jpeg_bytes(20 + n, 10), "image/jpeg")
    moto.put(BUCKET, "cams/a0.jpg.metadata.json", json.dumps({"site": "north"}).encode(), "application/json")
    moto.put(BUCKET, "elsewhere/x.jpg", jpeg_bytes(), "image/jpeg")  # outside the prefix
    first = app.sync("cams").to_json()
    assert first["status"] == "DONE", first["unitErrors"]
    found = names(app)
    assert set(found) == {"cams/a0.jpg", "cams/a1.jpg", "cams/a2.jpg"}
    assert found["cams/a0.jpg"]["clientMetadata"] == {"site": "north"}
    assert found["cams/a0.jpg"]["etag"]

    moto.clear()
    unchanged = app.sync("cams").to_json()
    assert unchanged["syncCounts"]["unchanged"] == 3
    assert not [r for r in moto.requests() if r.method == "GET" and "list-type" not in r.query]  # no object read

    moto.put(BUCKET, "cams/a1.jpg", jpeg_bytes(99, 33), "image/jpeg")  # a new ETag
    moto.client.copy_object(Bucket=BUCKET, Key="cams/night/a2.jpg", CopySource={"Bucket": BUCKET, "Key": "cams/a2.jpg"})
    moto.client.delete_object(Bucket=BUCKET, Key="cams/a2.jpg")
    moto.client.delete_object(Bucket=BUCKET, Key="cams/a0.jpg")
    shown = app.sync("cams").to_json()
    counts = shown["syncCounts"]
    assert (counts["changeDone"], counts["moveDone"], counts["deleteDone"]) == (1, 1, 1)
    now = names(app)
    assert set(now) == {"cams/a1.jpg", "cams/night/a2.jpg"}
    assert (now["cams/a1.jpg"]["width"], now["cams/a1.jpg"]["uuid"]) == (99, found["cams/a1.jpg"]["uuid"])
    assert now["cams/night/a2.jpg"]["uuid"] == found["cams/a2.jpg"]["uuid"]


def s3_event(name: str, key: str) -> str:
    record = {"eventName": name, "s3": {"bucket": {"name": BUCKET}, "object": {"key": key.replace(" ", "+")}}}
    return json.dumps({"Body": json.dumps({"Records": [record]})})  # as an SQS message carries it


def test_bucket_notifications_sync_only_what_they_name(app: Accessio, moto: MotoS3, tmp_path: Path) -> None:
    moto.put(BUCKET, "cams/old.jpg", jpeg_bytes(30, 20), "image/jpeg")
    app.sync("cams")
    moto.put(BUCKET, "cams/new shot.jpg", jpeg_bytes(31, 21), "image/jpeg")
    moto.put(BUCKET, "cams/unnamed.jpg", jpeg_bytes(32, 22), "image/jpeg")  # no notification: left for a listing
    moto.client.delete_object(Bucket=BUCKET, Key="cams/old.jpg")
    events = [
        s3_event("ObjectCreated:Put", "cams/new shot.jpg"),
        s3_event("ObjectRemoved:Delete", "cams/old.jpg"),
        s3_event("ObjectCreated:Put", "other/ignored.jpg"),  # outside the prefix
    ]
    moto.clear()
    done = subprocess.run(
        [sys.executable, "-m", "accessio", "sync", "cams", "--events", "-", "--json", "--catalog",
         str(tmp_path / "catalog.db")],
        input="\n".join(events) + "\n", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["syncCounts"]["addDone"] == 1
    assert shown["syncCounts"]["deleteDone"] == 1
    assert listings(moto) == []  # no listing: the notifications named the objects
    assert set(names(app)) == {"cams/new shot.jpg"}

    moto.clear()
    full = app.sync("cams").to_json()  # a listing finds what no notification named
    assert full["syncCounts"]["addDone"] == 1
    assert listings(moto)
    assert set(names(app)) == {"cams/new shot.jpg", "cams/unnamed.jpg"}


def _sync_events(events: Path, catalog: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "accessio", "sync", "cams", "--events", str(events), "--catalog", str(catalog)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_notifications_that_are_not_json_are_refused_with_their_line(app: Accessio, tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.write_text('{"Records": []}\n{broken\n', encoding="utf-8")
    done = _sync_events(events, tmp_path / "catalog.db")
    assert done.returncode == 1
    assert "line 2: not JSON" in done.stderr
    assert f"{events}, line 2" in done.stderr
    events.write_bytes(b'{"Records": []}\n\xff\xfe\n')
    done = _sync_events(events, tmp_path / "catalog.db")
    assert done.returncode == 1
    assert f"{events}, line 2: not UTF-8 text" in done.stderr
    assert "Traceback" not in done.stderr
