"""Image sequences through object stores on 127.0.0.1: moto's S3 server and Azurite.
Frames are read from the store, the video is written back under the write prefix
(through obstore), and what the servers hold afterwards is the evidence."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from tests.jobs.test_sequences import close, decoded, jpeg, picture, spec_json
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, Azurite, MotoS3, azurite, moto_s3  # noqa: F401

from accessio.service import Accessio

W, H = 128, 72
FRAMES = 12


@pytest.fixture
def moto(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:  # noqa: F811
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    return moto_s3


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Accessio]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where videos are made before the upload
    (tmp_path / "tmp").mkdir()
    with Accessio(str(tmp_path / "catalog.db")) as accessio:
        accessio.create_folder("f")
        yield accessio


def keys(moto: MotoS3, bucket: str, prefix: str) -> list[str]:
    listed = moto.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


def test_a_sequence_on_s3_is_encoded_written_back_and_not_written_again(
    app: Accessio, moto: MotoS3, tmp_path: Path
) -> None:
    bucket = "sequences"
    for n in range(FRAMES):
        moto.put(bucket, f"walk/{n:03d}.jpg", jpeg(picture(W * (1 + n % 2), H * (1 + n % 2), n)), "image/jpeg")
    urls = [f"{moto.endpoint}/{bucket}/walk/{n:03d}.jpg" for n in range(FRAMES)]
    app.add_integration(
        "minio",
        "s3Compatible",
        endpoint=moto.endpoint,
        credentials="env:MOTO",
        allow_private_network=True,
        write_prefix=f"{moto.endpoint}/{bucket}/videos",
    )
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode({"skip_duplicate_urls": True, **spec_json(urls)}))
    shown = app.register(spec, folder="f", integration="minio", sequence_fps=12).to_json()
    assert shown["status"] == "DONE", shown["unitErrors"]

    (item,) = app.items("f")
    (key,) = keys(moto, bucket, "videos/")  # one video, no temporary name left
    assert item["url"] == f"{moto.endpoint}/{bucket}/{key}"
    assert (item["width"], item["height"], item["fps"], item["frameCount"]) == (W, H, 12.0, FRAMES)
    head = moto.client.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "video/mp4"
    assert item["fileSize"] == head["ContentLength"]
    body = moto.client.get_object(Bucket=bucket, Key=key)["Body"].read()
    pictures, stream = decoded(io.BytesIO(body))
    assert (len(pictures), stream.width, stream.height, stream.average_rate) == (FRAMES, W, H, 12)
    assert close(pictures[0], picture(W, H, 0)) < 6
    assert close(pictures[-1], picture(W, H, FRAMES - 1)) < 8  # its source is twice the size
    signed = app.signed_url(item["uuid"])
    assert signed.startswith(f"{moto.endpoint}/{bucket}/{key}?")
    assert "X-Amz-Signature=" in signed

    moto.clear()
    rerun = app.register(spec, folder="f", integration="minio", sequence_fps=12).to_json()
    assert rerun["counts"]["skipped"] == 1
    assert [r for r in moto.requests() if r.method in ("PUT", "POST", "DELETE")] == []
    assert keys(moto, bucket, "videos/") == [key]


def test_a_read_only_s3_integration_writes_nothing(app: Accessio, moto: MotoS3, tmp_path: Path) -> None:
    bucket = "sequences-ro"
    for n in range(3):
        moto.put(bucket, f"walk/{n:03d}.jpg", jpeg(picture(W, H, n)), "image/jpeg")
    urls = [f"{moto.endpoint}/{bucket}/walk/{n:03d}.jpg" for n in range(3)]
    app.add_integration(
        "minio-ro", "s3Compatible", endpoint=moto.endpoint, credentials="env:MOTO", allow_private_network=True
    )
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode(spec_json(urls)))
    moto.clear()
    shown = app.register(spec, folder="f", integration="minio-ro").to_json()
    (error,) = shown["unitErrors"]
    assert "no write prefix" in error["error"]
    assert moto.requests() == []  # not even a frame was read


def test_a_sequence_on_azure_is_written_under_the_write_prefix(
    app: Accessio,
    azurite: Azurite,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURITE_ACCOUNT_KEY", azurite.key)
    container = "sequences"
    for n in range(5):
        azurite.put(container, f"walk/{n:03d}.jpg", jpeg(picture(W, H, n)), "image/jpeg")
    base = f"{azurite.endpoint}/{azurite.account}/{container}"
    app.add_integration(
        "blob",
        "azure",
        endpoint=azurite.endpoint,
        credentials="env:AZURITE",
        allow_private_network=True,
        write_prefix=f"{base}/videos",
    )
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode(spec_json([f"{base}/walk/{n:03d}.jpg" for n in range(5)])))
    shown = app.register(spec, folder="f", integration="blob").to_json()
    assert shown["status"] == "DONE", shown["unitErrors"]
    (item,) = app.items("f")
    blobs = sorted(b.name for b in azurite.service.get_container_client(container).list_blobs("videos/"))
    assert [f"{base}/{name}" for name in blobs] == [item["url"]]
    body = azurite.service.get_container_client(container).download_blob(blobs[0]).readall()
    pictures, stream = decoded(io.BytesIO(body))
    assert (len(pictures), stream.width, stream.height) == (5, W, H)
    assert close(pictures[4], picture(W, H, 4)) < 6
