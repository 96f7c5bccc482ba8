"""Cloud-synced folders on a local directory, on SQLite and PostgreSQL: what a sync adds,
probes again, follows, tombstones and leaves alone, and that an unchanged prefix writes nothing."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from accessio.catalog.folders import NotSynced, SyncedFolder
from accessio.catalog.schema import embeddings, items, synced_objects
from accessio.cli import app as cli
from accessio.jobs.sync import run_sync
from accessio.service import Accessio
from accessio.service.sync import start
from accessio.spec import UploadSpec, model
from tests.samples import jpeg_bytes, write_sample
from tests.webhooks.receiver import receiving, verify


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    for n in range(4):
        (root / f"img{n}.jpg").write_bytes(jpeg_bytes(16 + n, 12))
    (root / "notes.txt").write_text("hello from a text file\n", encoding="utf-8")
    (root / "archive.bin").write_bytes(bytes(range(256)) * 4)  # not media
    write_sample(root / "sub" / "clip.mp4")
    return root


@pytest.fixture
def app(catalog_url: str, media: Path) -> Iterator[Accessio]:
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("disk", "local", root=str(media))
        accessio.create_folder("synced", sync=("disk", media.as_uri()))
        yield accessio


def listed(app: Accessio, where: str | None = None) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in app.items("synced", where=where, limit=1000)}


def touch(path: Path, data: bytes) -> None:
    """Rewrite a file with a modification time surely different from the one it had."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(data)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_a_first_sync_registers_media_by_content_and_skips_the_rest(app: Accessio, media: Path) -> None:
    (media / "photo").write_bytes(jpeg_bytes(40, 30))  # no extension: the content says JPEG
    job = app.sync("synced")
    shown = job.to_json()
    assert shown["status"] == "DONE"
    found = listed(app)
    assert set(found) == {"img0.jpg", "img1.jpg", "img2.jpg", "img3.jpg", "notes.txt", "sub/clip.mp4", "photo"}
    assert found["photo"]["itemType"] == "image"
    assert (found["photo"]["width"], found["photo"]["height"]) == (40, 30)
    assert found["notes.txt"]["itemType"] == "plainText"
    assert found["sub/clip.mp4"]["itemType"] == "video"
    assert found["sub/clip.mp4"]["duration"] > 0
    assert shown["counts"]["skipped"] == 1  # archive.bin
    assert shown["syncCounts"]["addDone"] == 7
    assert app.folder("synced").synced_at is not None


def test_an_unchanged_prefix_writes_nothing_and_reads_no_object(app: Accessio, media: Path) -> None:
    app.sync("synced")
    with app.engine.connect() as conn:
        before = sorted(conn.execute(sa.select(items.c.id, items.c.updated_at)).all())
        seen = sorted(conn.execute(sa.select(synced_objects)).all())
    # garbage under the same size and modification time: a read would fail the object
    for name in ("img0.jpg", "sub/clip.mp4"):
        path = media / name
        stat = path.stat()
        path.write_bytes(b"\0" * stat.st_size)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    shown = app.sync("synced").to_json()
    assert shown["status"] == "DONE"
    assert shown["counts"] == {"pending": 0, "done": 0, "error": 0, "cancelled": 0, "created": 0, "skipped": 0,
                               "upserted": 0}  # fmt: skip
    assert shown["syncCounts"]["unchanged"] == 7
    with app.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(items.c.id, items.c.updated_at)).all()) == before
        assert sorted(conn.execute(sa.select(synced_objects)).all()) == seen


def test_changed_moved_and_deleted_objects(app: Accessio, media: Path) -> None:
    app.schema_add_embedding("clip", 3)
    (media / "img1.jpg.metadata.json").write_text(json.dumps({"label": "cat", "clip": [1, 0, 0]}))
    app.sync("synced")
    first = listed(app)
    moved_id, changed_id, deleted_id = first["img1.jpg"]["uuid"], first["img2.jpg"]["uuid"], first["img3.jpg"]["uuid"]
    assert first["img1.jpg"]["clientMetadata"] == {"label": "cat"}

    os.rename(media / "img1.jpg", media / "sub" / "renamed.jpg")
    os.rename(media / "img1.jpg.metadata.json", media / "sub" / "renamed.jpg.metadata.json")
    touch(media / "img2.jpg", jpeg_bytes(64, 48))
    (media / "img3.jpg").unlink()
    shown = app.sync("synced").to_json()
    assert shown["status"] == "DONE"
    counts = shown["syncCounts"]
    assert (counts["moveDone"], counts["changeDone"], counts["deleteDone"]) == (1, 1, 1)
    assert "addDone" not in counts

    now = listed(app)
    assert "img1.jpg" not in now
    assert "img3.jpg" not in now  # a tombstone is hidden from listings
    moved = now["sub/renamed.jpg"]
    assert moved["uuid"] == moved_id  # the same item: metadata and embeddings kept
    assert moved["url"] == (media / "sub" / "renamed.jpg").as_uri()
    assert moved["clientMetadata"] == {"label": "cat"}
    with app.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(embeddings.c.item_id == moved_id)).scalar_one() == 1
    changed = now["img2.jpg"]
    assert changed["uuid"] == changed_id
    assert (changed["width"], changed["height"]) == (64, 48)
    tombstones = listed(app, "isTombstone = true")
    assert [item["uuid"] for item in tombstones.values()] == [deleted_id]
    assert "img3.jpg" not in listed(app, 'name != "isTombstone"')  # named as a value, the field is not asked for

    (media / "img3.jpg").write_bytes(jpeg_bytes(20, 10))  # back where it was: the item lives again
    shown = app.sync("synced").to_json()
    assert shown["syncCounts"]["restoreDone"] == 1
    assert listed(app)["img3.jpg"]["uuid"] == deleted_id


def test_sidecars_become_client_metadata_checked_against_the_schema(app: Accessio, media: Path) -> None:
    app.schema_add_scalar("score", "number")
    (media / "img0.jpg.metadata.json").write_text(json.dumps({"score": 0.9, "tags": ["a"]}))
    (media / "img1.jpg.metadata.json").write_text(json.dumps({"score": "high"}))  # breaks the schema
    (media / "img2.jpg.metadata.json").write_text("{not json")
    (media / "orphan.png.metadata.json").write_text("{}")  # describes no object: ignored
    shown = app.sync("synced").to_json()
    assert shown["status"] == "DONE"
    assert shown["counts"]["error"] == 2
    errors = {tuple(e["objectUrls"]): e["error"] for e in shown["unitErrors"]}
    by_sidecar = {urls[-1].rsplit("/", 1)[-1]: error for urls, error in errors.items()}
    assert "score" in by_sidecar["img1.jpg.metadata.json"]
    assert "not a JSON document" in by_sidecar["img2.jpg.metadata.json"]
    report = app.job(shown["id"]).failures_csv().splitlines()
    assert report[0] == "object_url,title,item_type,error,action"
    assert sorted(line.split(",")[1] for line in report[1:]) == ["img1.jpg", "img2.jpg"]
    found = listed(app)
    assert found["img0.jpg"]["clientMetadata"] == {"score": 0.9, "tags": ["a"]}
    assert "img1.jpg" not in found  # not registered with metadata it should not hold; retried next time
    assert "img2.jpg" not in found

    (media / "img1.jpg.metadata.json").write_text(json.dumps({"score": 3}))
    (media / "img2.jpg.metadata.json").write_text(json.dumps({"score": 4}))
    touch(media / "img0.jpg.metadata.json", json.dumps({"score": 1.0}).encode())
    shown = app.sync("synced").to_json()
    assert shown["counts"]["error"] == 0
    found = listed(app)
    assert found["img1.jpg"]["clientMetadata"] == {"score": 3}
    assert found["img0.jpg"]["clientMetadata"] == {"score": 1.0}  # only the sidecar changed
    assert shown["syncCounts"]["metadataDone"] == 1
    assert app.job(shown["id"]).failures_csv().splitlines() == ["object_url,title,item_type,error,action"]


def test_a_synced_folder_takes_no_spec_and_an_unsynced_folder_no_sync(app: Accessio, media: Path) -> None:
    spec = UploadSpec(images=[model.Image(object_url=(media / "img0.jpg").as_uri())])
    with pytest.raises(SyncedFolder, match="synced from"):
        app.register(spec, folder="synced", integration="disk")
    app.create_folder("plain")
    with pytest.raises(NotSynced):
        app.sync("plain")


def test_a_sync_stopped_between_chunks_resumes_without_duplicates(app: Accessio, media: Path) -> None:
    for n in range(30):
        (media / f"more{n:02d}.jpg").write_bytes(jpeg_bytes(8 + n, 8))
    folder = app.folder("synced")
    job = start(app, folder)
    stop = threading.Event()
    storage = app.storage("disk")
    assert folder.sync_prefix is not None
    record = run_sync(app.engine, job.id, storage, prefix=folder.sync_prefix, stop=stop, chunk_reads=5,
                      progress=lambda counts: stop.set())  # fmt: skip
    assert record.status == "PENDING"
    assert 0 < record.next_unit < record.units_total
    resumed = app.sync("synced")  # finds the sync that runs and finishes it
    assert resumed.id == job.id
    assert resumed.status == "DONE"
    names = [item["name"] for item in app.items("synced", limit=1000)]
    assert len(names) == len(set(names)) == 36


def test_a_cancelled_sync_keeps_what_it_wrote_and_the_next_one_finishes(app: Accessio, media: Path) -> None:
    for n in range(20):
        (media / f"more{n:02d}.jpg").write_bytes(jpeg_bytes(8 + n, 8))
    folder = app.folder("synced")
    assert folder.sync_prefix is not None
    job = start(app, folder)
    record = run_sync(app.engine, job.id, app.storage("disk"), prefix=folder.sync_prefix, chunk_reads=4,
                      progress=lambda counts: job.cancel())  # fmt: skip
    assert record.status == "CANCELLED"
    kept = len(app.items("synced", limit=1000))
    assert 0 < kept < 26
    follow = app.sync("synced").to_json()
    assert follow["id"] != job.id
    assert follow["status"] == "DONE"
    assert follow["syncCounts"]["addDone"] == 26 - kept
    names = [item["name"] for item in app.items("synced", limit=1000)]
    assert len(names) == len(set(names)) == 26


def test_accessio_sync_posts_its_result_to_the_folders_webhook(app: Accessio, media: Path) -> None:
    with receiving() as receiver:
        _, secret = app.webhooks.add(receiver.url(), folder="synced", allow_private_network=True)
        result = CliRunner().invoke(cli, ["sync", "synced", "--json", "--catalog", app.catalog])
        assert result.exit_code == 0, result.stderr
        (request,) = receiver.requests  # sent by the command once the sync ended
    assert verify(secret, request.headers, request.body)
    posted = json.loads(request.body)
    assert posted["event"] == "sync.finished"
    assert posted["job"]["syncCounts"]["addDone"] == 6
