"""Registration end to end through the Python API, on a real local integration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.media.medical import dicom
from tests.page_cache import evict, evictions_work
from tests.samples import write_sample

from accessio.jobs.runner import run_job
from accessio.service import Accessio
from accessio.spec import (
    DicomSeries,
    Image,
    ImageGroup,
    ImageMetadata,
    UploadSpec,
    Video,
    VideoMetadata,
    parse_json,
)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    for n, name in enumerate(("a.jpg", "b.jpg", "c.jpg", "v.mp4", "s1.dcm", "s2.dcm")):
        write_sample(root / name, n)
    return root


@pytest.fixture
def app(catalog_url: str, media: Path) -> Iterator[Accessio]:
    """A catalog on each backend: this is the registration conformance suite."""
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(media))
        accessio.create_folder("datasets/cars")
        yield accessio


def url(media: Path, name: str) -> str:
    return (media / name).as_uri()


def test_register_every_kind_and_read_what_is_missing(app: Accessio, media: Path) -> None:
    spec = UploadSpec(
        videos=[Video(object_url=url(media, "v.mp4"), video_metadata=VideoMetadata(25, 4.0, 64, 48, 800, "video/mp4"))],
        images=[Image(object_url=url(media, "a.jpg"), title="A", client_metadata={"site": "Oran"})],
        image_groups=[ImageGroup(urls=(url(media, "b.jpg"), url(media, "c.jpg")), title="G")],
        dicom_series=[DicomSeries(urls=(url(media, "s1.dcm"), url(media, "s2.dcm")), title="S")],
    )
    job = app.register(spec, folder="datasets/cars", integration="media")
    shown = job.to_json()
    assert shown["status"] == "DONE"
    assert shown["counts"] == {
        "pending": 0,
        "done": 4,
        "error": 0,
        "cancelled": 0,
        "created": 4,
        "skipped": 0,
        "upserted": 0,
    }
    found = {item["name"]: item for item in app.items("datasets/cars")}
    assert set(found) == {"A", "G", "S", "v.mp4"}  # untitled: its path under the root
    # supplied metadata is stored as given; missing metadata is probed from the content
    assert (found["v.mp4"]["fps"], found["v.mp4"]["fileSize"]) == (25.0, 800)
    assert found["A"]["fileSize"] == (media / "a.jpg").stat().st_size
    assert (found["A"]["mimeType"], found["A"]["width"], found["A"]["height"]) == ("image/jpeg", 16, 12)
    assert found["A"]["clientMetadata"] == {"site": "Oran"}
    group = app.item(found["G"]["uuid"])
    assert [child["url"] for child in group["children"]] == [url(media, "b.jpg"), url(media, "c.jpg")]
    assert [child["position"] for child in group["children"]] == [0, 1]
    assert group["itemType"] == "imageGroup"
    assert [child["width"] for child in group["children"]] == [17, 18]
    series = app.item(found["S"]["uuid"])
    assert [child["itemType"] for child in series["children"]] == ["dicomFile", "dicomFile"]
    shapes = [(child["modality"], child["width"], child["height"]) for child in series["children"]]
    assert shapes == [("CT", 16, 16)] * 2
    assert series["children"][0]["dicomTags"]["00100020"] == {"vr": "LO", "Value": ["CORPUS-1"]}
    assert series["modality"] == "CT"


def test_skip_duplicate_urls_makes_reruns_idempotent(app: Accessio, media: Path) -> None:
    spec = UploadSpec(
        images=[Image(object_url=url(media, "a.jpg"), client_metadata={"v": 1})],
        image_groups=[ImageGroup(urls=(url(media, "b.jpg"), url(media, "c.jpg")))],
        skip_duplicate_urls=True,
    )
    first = app.register(spec, folder="datasets/cars", integration="media").to_json()
    assert first["counts"]["created"] == 2
    again = app.register(spec, folder="datasets/cars", integration="media").to_json()
    assert again["counts"]["created"] == 0
    assert again["counts"]["skipped"] == 2
    assert len(app.items("datasets/cars")) == 2


def test_without_the_flag_duplicates_are_registered_again(app: Accessio, media: Path) -> None:
    spec = UploadSpec(images=[Image(object_url=url(media, "a.jpg"))])
    app.register(spec, folder="datasets/cars", integration="media")
    app.register(spec, folder="datasets/cars", integration="media")
    assert len(app.items("datasets/cars")) == 2


def test_upsert_replaces_client_metadata_only(app: Accessio, media: Path) -> None:
    meta = ImageMetadata("image/jpeg", 1234, 10, 20)
    first = UploadSpec(
        images=[
            Image(object_url=url(media, "a.jpg"), title="A", client_metadata={"old": 1, "keep": 2}, image_metadata=meta)
        ],
        skip_duplicate_urls=True,
    )
    app.register(first, folder="datasets/cars", integration="media")
    update = UploadSpec(
        images=[Image(object_url=url(media, "a.jpg"), title="renamed", client_metadata={"new": 3})],
        skip_duplicate_urls=True,
        upsert_metadata=True,
    )
    shown = app.register(update, folder="datasets/cars", integration="media").to_json()
    assert shown["counts"]["upserted"] == 1
    (item,) = app.items("datasets/cars")
    assert item["clientMetadata"] == {"new": 3}  # replaced, not merged
    assert (item["name"], item["fileSize"], item["width"]) == ("A", 1234, 10)  # nothing else changed


def test_two_upserts_of_one_item_in_a_chunk_the_last_wins(app: Accessio, media: Path) -> None:
    """Two units of one spec upserting the same item, each with a vector of one key."""
    app.schema_add_embedding("clip", 3)
    meta = ImageMetadata("image/jpeg", 1234, 10, 20)
    a = url(media, "a.jpg")
    first = UploadSpec(images=[Image(object_url=a, image_metadata=meta, client_metadata={"clip": [1, 0, 0]})],
                       skip_duplicate_urls=True)  # fmt: skip
    app.register(first, folder="datasets/cars", integration="media")
    twice = UploadSpec(
        images=[
            Image(object_url=a, image_metadata=meta, client_metadata={"clip": [0, 1, 0], "n": 1}),
            Image(object_url=a, image_metadata=meta, client_metadata={"clip": [0, 0, 1], "n": 2}),
        ],
        skip_duplicate_urls=True,
        upsert_metadata=True,
    )
    shown = app.register(twice, folder="datasets/cars", integration="media").to_json()
    assert shown["status"] == "DONE"
    assert shown["counts"]["upserted"] == 2
    (item,) = app.items("datasets/cars")
    assert item["clientMetadata"]["n"] == 2
    hits = app.similar("clip", vector=[0, 0, 1], k=5, exact=True)
    assert [(hit.item_id, round(hit.distance, 6)) for hit in hits] == [(item["uuid"], 0.0)]


def test_unit_errors_and_ignore_errors(app: Accessio, media: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"x")
    spec = UploadSpec(
        images=[
            Image(object_url=url(media, "a.jpg")),
            Image(object_url=outside.as_uri()),
            Image(object_url=url(media, "missing.jpg")),
            Image(object_url=url(media, "b.jpg")),
        ]
    )
    job = app.register(spec, folder="datasets/cars", integration="media", ignore_errors=True)
    shown = job.to_json()
    assert shown["status"] == "DONE"
    assert (shown["counts"]["done"], shown["counts"]["error"]) == (2, 2)
    assert [e["objectUrls"] for e in shown["unitErrors"]] == [[outside.as_uri()], [url(media, "missing.jpg")]]
    assert all(e["error"] and e["actionDescription"] for e in shown["unitErrors"])
    assert len(app.items("datasets/cars")) == 2


def test_without_ignore_errors_the_job_ends_in_error(app: Accessio, media: Path) -> None:
    spec = UploadSpec(images=[Image(object_url=url(media, "a.jpg")), Image(object_url=url(media, "nope.jpg"))])
    shown = app.register(spec, folder="datasets/cars", integration="media").to_json()
    assert shown["status"] == "ERROR"
    assert shown["counts"]["done"] == 1  # registered before the failure, and kept
    assert len(app.items("datasets/cars")) == 1


def test_failure_report(app: Accessio, media: Path) -> None:
    spec = UploadSpec(
        images=[Image(object_url=url(media, "=cmd.jpg"), title="=HYPERLINK(1)")],
        image_groups=[ImageGroup(urls=(url(media, "a.jpg"), url(media, "gone.jpg")), title="G")],
        skip_duplicate_urls=True,
    )
    job = app.register(spec, folder="datasets/cars", integration="media", ignore_errors=True)
    lines = job.failures_csv().splitlines()
    assert lines[0] == "object_url,title,item_type,error,action"
    assert len(lines) == 1 + 1 + 2  # one row per failed file: the image, both group members
    assert ",'=HYPERLINK(1),image," in lines[1]
    retry = parse_json(job.failures_spec())
    assert retry.units_of("images") == spec.images
    assert retry.image_groups == spec.image_groups
    assert retry.skip_duplicate_urls is True
    assert json.loads(job.failures_spec())["images"][0]["title"] == "=HYPERLINK(1)"  # the spec keeps values as given


def test_strict_client_only_needs_metadata(app: Accessio, media: Path) -> None:
    app.add_integration("strict", "local", root=str(media), access_mode="strictClientOnly")
    spec = UploadSpec(
        images=[
            Image(object_url=url(media, "a.jpg"), image_metadata=ImageMetadata("image/jpeg", 5, 1, 1)),
            Image(object_url=url(media, "b.jpg")),
        ]
    )
    shown = app.register(spec, folder="datasets/cars", integration="strict", ignore_errors=True).to_json()
    assert shown["counts"]["done"] == 1
    assert "strictClientOnly" in shown["unitErrors"][0]["error"]
    (item,) = app.items("datasets/cars")
    assert item["fileSize"] == 5


def test_cancel_keeps_what_is_registered(app: Accessio, media: Path) -> None:
    spec = UploadSpec(images=[Image(object_url=url(media, "a.jpg")), Image(object_url=url(media, "b.jpg"))])
    job = app.start_registration(spec, folder="datasets/cars", integration="media")
    assert job.cancel() == 2
    assert job.status == "CANCELLED"
    assert job.run().status == "CANCELLED"
    assert app.items("datasets/cars") == []


def test_a_one_image_group_is_not_a_duplicate_of_the_image(app: Accessio, media: Path) -> None:
    spec = UploadSpec(
        images=[Image(object_url=url(media, "a.jpg")), Image(object_url=url(media, "a.jpg"))],
        image_groups=[ImageGroup(urls=(url(media, "a.jpg"),))],
        skip_duplicate_urls=True,
    )
    counts = app.register(spec, folder="datasets/cars", integration="media").counts()
    assert (counts["created"], counts["skipped"]) == (2, 1)  # the second image is the duplicate
    again = app.register(spec, folder="datasets/cars", integration="media").counts()
    assert (again["created"], again["skipped"]) == (0, 3)


def test_cancel_while_running_keeps_what_was_registered(app: Accessio, media: Path) -> None:
    names = ("a.jpg", "b.jpg", "c.jpg", "v.mp4", "s1.dcm", "s2.dcm")
    spec = UploadSpec(images=[Image(object_url=url(media, name)) for name in names])
    job = app.start_registration(spec, folder="datasets/cars", integration="media")
    seen: list[dict[str, int]] = []

    def cancel_after_first_chunk(counts: dict[str, int]) -> None:
        seen.append(counts)
        if len(seen) == 1:
            job.cancel()

    run_job(app.engine, job.id, app.storage("media"), "server", progress=cancel_after_first_chunk, chunk_units=2)
    counts = job.counts()
    assert job.status == "CANCELLED"
    assert (counts["created"], counts["cancelled"], counts["pending"]) == (2, 4, 0)
    assert len(app.items("datasets/cars")) == 2


def test_progress_reports_the_counts_the_catalog_holds(app: Accessio, media: Path) -> None:
    spec = UploadSpec(
        images=[Image(object_url=url(media, n)) for n in ("a.jpg", "b.jpg", "missing.jpg", "a.jpg")],
        skip_duplicate_urls=True,
    )
    job = app.start_registration(spec, folder="datasets/cars", integration="media", ignore_errors=True)
    seen: list[dict[str, int]] = []
    run_job(app.engine, job.id, app.storage("media"), "server", progress=seen.append, chunk_units=3)
    assert [c["pending"] for c in seen] == [1, 0]
    assert seen[-1] == job.counts()
    assert (seen[-1]["created"], seen[-1]["skipped"], seen[-1]["error"], seen[-1]["done"]) == (2, 1, 1, 3)


def test_large_jobs_write_beside_preparing_and_find_duplicates_across_chunks(
    app: Accessio, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are written (by a process of its own on SQLite, a thread on PostgreSQL)
    while the next is prepared; a unit repeating one of the chunk being written is
    still a duplicate, and the counters add up across chunks."""
    from accessio.jobs import writer  # noqa: PLC0415

    monkeypatch.setattr(writer, "PROCESS_AT_LEAST", 1000)
    meta = ImageMetadata("image/jpeg", 100, 8, 8)
    urls = [f"{(media / 'many').as_uri()}/{n:05d}.jpg" for n in range(3000)]
    # again in the last chunk: units of chunk 1 (committed by then) and of chunk 3 (maybe still being written)
    repeated = urls[:5] + urls[2985:]
    spec = UploadSpec(
        images=[Image(object_url=u, image_metadata=meta, client_metadata={"n": i}) for i, u in enumerate(urls)]
        + [Image(object_url=u, image_metadata=meta) for u in repeated],
        skip_duplicate_urls=True,
    )
    job = app.start_registration(spec, folder="datasets/cars", integration="media")
    seen: list[dict[str, int]] = []
    run_job(app.engine, job.id, app.storage("media"), "server", progress=seen.append, chunk_units=1000)
    assert [c["pending"] for c in seen] == [2020, 1020, 20, 0]
    counts = job.counts()
    assert (counts["created"], counts["skipped"], counts["done"], counts["error"]) == (3000, 20, 3020, 0)
    assert job.status == "DONE"
    listed = app.items("datasets/cars", limit=5000)
    assert len(listed) == 3000
    assert {item["url"] for item in listed} == set(urls)


def test_a_failed_writer_fails_the_run_and_leaves_the_job_resumable(
    app: Accessio, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accessio.catalog import bulk  # noqa: PLC0415
    from accessio.jobs import writer  # noqa: PLC0415

    monkeypatch.setattr(writer, "PROCESS_AT_LEAST", 10**9)  # in this process, where the fault is planted
    meta = ImageMetadata("image/jpeg", 100, 8, 8)
    spec = UploadSpec(images=[Image(object_url=url(media, f"x{n}.jpg"), image_metadata=meta) for n in range(30)])
    job = app.start_registration(spec, folder="datasets/cars", integration="media")
    original = bulk.insert_items
    calls = {"n": 0}

    def fail_second_chunk(conn: object, rows: list[tuple[object, ...]]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        original(conn, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "insert_items", fail_second_chunk)
    with pytest.raises(RuntimeError, match="disk full"):
        run_job(app.engine, job.id, app.storage("media"), "server", chunk_units=10)
    assert job.counts()["created"] == 10
    monkeypatch.setattr(bulk, "insert_items", original)
    job.run()
    assert job.status == "DONE"
    assert job.counts()["created"] == 30
    assert len(app.items("datasets/cars", limit=100)) == 30


def test_units_held_by_the_handle_are_the_units_stored(app: Accessio, media: Path) -> None:
    """A job handle that stored its units runs them without decoding them again: they
    must be the stored units, in the same positions."""
    from accessio.jobs.units import decode_units, encode_units, ordered_units  # noqa: PLC0415

    spec = UploadSpec(
        videos=[Video(object_url=url(media, "v.mp4"))],
        images=[Image(object_url=url(media, n)) for n in ("a.jpg", "b.jpg")],
        image_groups=[ImageGroup(urls=(url(media, "b.jpg"), url(media, "c.jpg")), title="G")],
        dicom_series=[DicomSeries(urls=(url(media, "s1.dcm"),), title="S")],
    )
    assert ordered_units(spec) == decode_units(encode_units(spec))
    job = app.start_registration(spec, folder="datasets/cars", integration="media")
    assert job.units() == app.job(job.id).units()


def test_content_decides_the_type_and_hostile_files_fail_their_unit(app: Accessio, media: Path) -> None:
    (media / "photo.mp4").write_bytes((media / "a.jpg").read_bytes())  # a JPEG under a video's name
    (media / "cut.jpg").write_bytes((media / "a.jpg").read_bytes()[:40])  # truncated
    (media / "bomb.jpg").write_bytes(b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03" + bytes(64))  # 65535 x 65535
    spec = UploadSpec(
        videos=[Video(object_url=url(media, "photo.mp4"))],
        images=[Image(object_url=url(media, n)) for n in ("cut.jpg", "bomb.jpg", "a.jpg")],
    )
    shown = app.register(spec, folder="datasets/cars", integration="media", ignore_errors=True).to_json()
    errors = {error["objectUrls"][0].rsplit("/", 1)[1]: error["error"] for error in shown["unitErrors"]}
    assert errors["photo.mp4"] == "Expected a video, got a file of type image/jpeg"
    assert "truncated" in errors["cut.jpg"]
    assert "65,535 x 65,535 pixels" in errors["bomb.jpg"]
    assert shown["counts"]["error"] == len(errors)
    assert all(error["actionDescription"] for error in shown["unitErrors"])


def test_a_dicom_series_of_files_from_two_series_is_refused_naming_the_file(app: Accessio, media: Path) -> None:
    dicom(media / "other.dcm", rows=16, columns=16, frames=1, modality="CT")  # a series (and study) of its own
    spec = UploadSpec(
        dicom_series=[
            DicomSeries(urls=(url(media, "s1.dcm"), url(media, "s2.dcm"), url(media, "other.dcm")), title="Mixed"),
            DicomSeries(urls=(url(media, "s1.dcm"), url(media, "s2.dcm")), title="One"),
        ]
    )
    shown = app.register(spec, folder="datasets/cars", integration="media", ignore_errors=True).to_json()
    assert (shown["counts"]["done"], shown["counts"]["error"]) == (1, 1)
    [error] = shown["unitErrors"]
    assert "file 2 (" + url(media, "other.dcm") + ") has SeriesInstanceUID" in error["error"]
    assert "dicomSeries unit of its own" in error["actionDescription"]
    assert [item["name"] for item in app.items("datasets/cars")] == ["One"]


def test_images_in_the_page_cache_and_on_the_disk_probe_alike(app: Accessio, media: Path, tmp_path: Path) -> None:
    """Local files are probed on one thread while the page cache holds them; those it does
    not hold go to threads that wait for the disk. Both give the same values."""
    if not evictions_work(tmp_path / "scratch.bin"):
        pytest.skip("this file system keeps the pages asked to leave the page cache")
    names = [f"many/{n:02}.jpg" for n in range(40)]
    for n, name in enumerate(names):
        write_sample(media / name, n)
    for name in names[::2]:
        assert evict(media / name, tries=250)
    job = app.register(UploadSpec(images=[Image(object_url=url(media, name)) for name in names]),
                       folder="datasets/cars", integration="media")  # fmt: skip
    assert job.to_json()["status"] == "DONE"
    found = {item["name"]: (item["width"], item["height"], item["fileSize"]) for item in app.items("datasets/cars")}
    assert found == {name: (16 + n, 12, (media / name).stat().st_size) for n, name in enumerate(names)}
