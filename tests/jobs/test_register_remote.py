"""Registration through remote integrations, against real servers on 127.0.0.1: an
S3-compatible store (moto) and plain HTTP. What the servers saw is the evidence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.samples import jpeg_bytes
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, WebServer, moto_s3, web_server, web_server_factory  # noqa: F401

from accessio.service import Accessio
from accessio.spec import Image, ImageMetadata, UploadSpec, Video


@pytest.fixture
def moto(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:  # noqa: F811
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    for n in range(20):
        moto_s3.put("shots", f"cars/{n:03d}.jpg", jpeg_bytes(16 + n, 12), "image/jpeg")
    moto_s3.clear()
    return moto_s3


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Accessio]:
    with Accessio(str(tmp_path / "catalog.db")) as accessio:
        accessio.create_folder("f")
        yield accessio


def test_register_from_s3_probes_each_object_in_one_ranged_read(app: Accessio, moto: MotoS3) -> None:
    app.add_integration(
        "minio", "s3Compatible", endpoint=moto.endpoint, credentials="env:MOTO", allow_private_network=True
    )
    urls = [f"{moto.endpoint}/shots/cars/{n:03d}.jpg" for n in range(20)]
    spec = UploadSpec(images=[Image(object_url=u) for u in urls])
    shown = app.register(spec, folder="f", integration="minio").to_json()
    assert shown["counts"]["created"] == 20
    items = {item["url"]: item for item in app.items("f")}
    assert items[urls[7]]["fileSize"] == len(jpeg_bytes(23, 12))
    assert (items[urls[7]]["mimeType"], items[urls[7]]["width"], items[urls[7]]["height"]) == ("image/jpeg", 23, 12)
    assert items[urls[7]]["etag"]
    gets = [r for r in moto.requests() if r.method == "GET" and r.path.startswith("/shots/")]
    assert len(gets) == 20  # one ranged GET per object, no HEAD
    assert all(r.range and r.range.startswith("bytes=0-") for r in gets)
    assert not moto.requests(method="HEAD")


def test_strict_client_only_never_reads_an_object(app: Accessio, moto: MotoS3) -> None:
    app.add_integration(
        "strict",
        "s3Compatible",
        endpoint=moto.endpoint,
        credentials="env:MOTO",
        allow_private_network=True,
        access_mode="strictClientOnly",
    )
    meta = ImageMetadata("image/jpeg", 102, 640, 480)
    spec = UploadSpec(
        images=[
            Image(object_url=f"{moto.endpoint}/shots/cars/000.jpg", image_metadata=meta),
            Image(object_url=f"{moto.endpoint}/shots/cars/001.jpg"),
        ],
        videos=[Video(object_url=f"{moto.endpoint}/shots/cars/002.jpg")],
    )
    shown = app.register(spec, folder="f", integration="strict", ignore_errors=True).to_json()
    assert (shown["counts"]["created"], shown["counts"]["error"]) == (1, 2)
    assert {tuple(e["objectUrls"]) for e in shown["unitErrors"]} == {
        (f"{moto.endpoint}/shots/cars/001.jpg",),
        (f"{moto.endpoint}/shots/cars/002.jpg",),
    }
    needs = sorted(e["error"].rsplit(" ", 1)[-1] for e in shown["unitErrors"])
    assert needs == ["imageMetadata", "videoMetadata"]
    assert moto.requests() == []  # the server saw nothing at all
    (item,) = app.items("f")
    assert (item["fileSize"], item["width"]) == (102, 640)


def test_ssrf_attempts_fail_their_unit_and_reach_nothing(app: Accessio, web_server: WebServer) -> None:  # noqa: F811
    web_server.files["/ok.jpg"] = (jpeg_bytes(), "image/jpeg")
    web_server.redirects["/to-metadata"] = "http://169.254.169.254/latest/meta-data/"
    web_server.redirects["/to-private"] = "http://10.0.0.1/x.jpg"
    web_server.redirects["/to-loopback"] = "http://127.0.0.1:1/x.jpg"
    app.add_integration("web", "http")  # no opt-in: loopback and private addresses are refused
    app.add_integration("onprem", "http", allow_private_network=True)
    spec = UploadSpec(
        images=[
            Image(object_url=web_server.url("/ok.jpg")),
            Image(object_url="http://169.254.169.254/latest/meta-data/iam.jpg"),
            Image(object_url="http://10.1.2.3/a.jpg"),
            Image(object_url="http://[::1]/a.jpg"),
        ]
    )
    shown = app.register(spec, folder="f", integration="web", ignore_errors=True).to_json()
    assert (shown["counts"]["created"], shown["counts"]["error"]) == (0, 4)
    assert web_server.requests == []  # even the loopback test server was not reached

    redirected = UploadSpec(
        images=[Image(object_url=web_server.url(p)) for p in ("/ok.jpg", "/to-metadata", "/to-private", "/to-loopback")]
    )
    shown = app.register(redirected, folder="f", integration="onprem", ignore_errors=True).to_json()
    assert shown["counts"]["created"] == 1
    # the opt-in lets the on-premise store's own address through, never a metadata service
    failed = {e["objectUrls"][0] for e in shown["unitErrors"]}
    assert web_server.url("/to-metadata") in failed
    assert [path for path, _ in web_server.requests].count("/ok.jpg") == 1


def test_path_escapes_fail_their_unit(app: Accessio, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "ok.jpg").write_bytes(jpeg_bytes())
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    (root / "inside" / "link.jpg").symlink_to(secret)
    (root / "linkdir").symlink_to(tmp_path)
    app.add_integration("disk", "local", root=str(root))
    spec = UploadSpec(
        images=[
            Image(object_url=(root / "inside" / "ok.jpg").as_uri()),
            Image(object_url=f"file://{root}/inside/../../secret.jpg"),
            Image(object_url=(root / "inside" / "link.jpg").as_uri()),
            Image(object_url=(root / "linkdir" / "secret.jpg").as_uri()),
            Image(object_url=secret.as_uri()),
        ]
    )
    shown = app.register(spec, folder="f", integration="disk", ignore_errors=True).to_json()
    assert (shown["counts"]["created"], shown["counts"]["error"]) == (1, 4)
    assert all("outside" in e["error"] or "integration" in e["error"] for e in shown["unitErrors"])


@pytest.mark.parametrize("mode", ["server", "strictClientOnly"])
def test_path_escapes_fail_their_unit_when_nothing_is_read(app: Accessio, tmp_path: Path, mode: str) -> None:
    """Supplied metadata means no read, hence no second check: the job's own check must
    catch a link out of the root even in a directory it has already accepted."""
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    (root / "inside" / "link.jpg").symlink_to(secret)
    (root / "inside" / "alias.jpg").symlink_to(root / "inside" / "ok-0.jpg")
    (root / "inside" / "out").symlink_to(tmp_path)
    app.add_integration("disk", "local", root=str(root), access_mode=mode)
    meta = ImageMetadata("image/jpeg", 6, 1, 1)
    urls = [
        *[(root / "inside" / f"ok-{n}.jpg").as_uri() for n in range(3)],  # absent: nothing is read
        (root / "inside" / "link.jpg").as_uri(),
        (root / "inside" / "alias.jpg").as_uri(),
        (root / "inside" / "out" / "secret.jpg").as_uri(),
        (root / "inside" / "ok-3.jpg").as_uri(),
        (root / "inside" / "link.jpg").as_uri(),
    ]
    spec = UploadSpec(images=[Image(object_url=url, image_metadata=meta) for url in urls])
    shown = app.register(spec, folder="f", integration="disk", ignore_errors=True).to_json()
    refused = [e["objectUrls"][0] for e in shown["unitErrors"]]
    assert refused == [urls[3], urls[5], urls[7]]
    assert all("resolves outside the root directory" in e["error"] for e in shown["unitErrors"])
    assert shown["counts"]["created"] == 5
