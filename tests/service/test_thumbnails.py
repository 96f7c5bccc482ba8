"""Thumbnails of real files registered through the library, on a local integration
(and one S3-compatible server): sizes, orientation, bounds, refusals and the cache."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from pydicom import dcmread
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLSLossless

from accessio.catalog.schema import items
from accessio.service import Accessio
from accessio.service.thumbnails import MEDIA_TYPE, Thumbnail, ThumbnailRefused, Thumbnails, icon_name
from accessio.spec import DicomSeries, ImageGroup, ImageMetadata, Pdf, PdfMetadata, UploadSpec, Video, VideoMetadata
from accessio.spec import Image as ImageUnit
from tests.media.medical import dicom
from tests.media.video import encode, rotate_mp4
from tests.samples import write_sample
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, moto_s3  # noqa: F401

_ORIENTATION = 0x0112
RED, BLUE = (220, 20, 20), (20, 20, 220)


def noisy(width: int, height: int, seed: int = 1) -> Image.Image:
    """A noisy picture: JPEGs of it have a real photo's size."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: where they end up tells the orientation."""
    picture = Image.new("RGB", (width, height), BLUE)
    picture.paste(RED, (0, 0, width // 2, height))
    return picture


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A small real PNG whose header declares ``width x height`` (CRC fixed): decoding it
    would fail as truncated, so a refusal for its pixels proves nothing was decoded."""
    out = io.BytesIO()
    Image.new("L", (8, 8), 0).save(out, "PNG")
    data = out.getvalue()
    ihdr_at = 8
    length = struct.unpack_from(">I", data, ihdr_at)[0]
    body = bytearray(data[ihdr_at + 8 : ihdr_at + 8 + length])
    struct.pack_into(">II", body, 0, width, height)
    return data[:ihdr_at] + png_chunk(b"IHDR", bytes(body)) + data[ihdr_at + 12 + length :]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    noisy(4000, 3000).save(root / "12mp.jpg", quality=90)
    exif = Image.Exif()
    exif[_ORIENTATION] = 6  # shown turned 90 degrees clockwise
    halves(400, 300).save(root / "turned.jpg", exif=exif, quality=95)
    alpha = Image.new("RGBA", (300, 200), (*RED, 255))
    alpha.paste((0, 0, 0, 0), (0, 0, 150, 200))
    alpha.save(root / "alpha.png")
    (root / "bomb.png").write_bytes(png_bomb(30000, 30000))
    (root / "mid.png").write_bytes(png_bomb(3000, 3000))
    data = (root / "turned.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    halves(64, 48).save(root / "first.jpg")
    halves(40, 30).save(root / "second.jpg")
    for n in range(5):
        noisy(600, 400, seed=n).save(root / f"n{n}.jpg", quality=95)
    write_sample(root / "small.mp4")
    encode(root / "turned.mp4", "mp4", "libx264", frames=25, rate=Fraction(25), size=(320, 240))
    rotate_mp4(root / "turned.mp4", 90)
    for name in ("s1.dcm", "s2.dcm"):
        dicom(root / name, rows=64, columns=48, frames=1, modality="CT", study_uid="1.2.826.0.1.3680043.8.498.20001",
              series_uid="1.2.826.0.1.3680043.8.498.20001.1")  # window 40 / 400; one series  # fmt: skip
        ct = dcmread(root / name)
        ct.PixelData = np.tile(np.linspace(0, 400, 48).astype("<u2"), (64, 1)).tobytes()  # left to right
        ct.save_as(root / name)
    compressed = dcmread(root / "s1.dcm")
    compressed.file_meta.TransferSyntaxUID = JPEGLSLossless  # no JPEG-LS plugin is installed
    compressed.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(100)])
    compressed["PixelData"].VR = "OB"
    compressed.save_as(root / "jpegls.dcm")
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    return root


@pytest.fixture
def app(tmp_path: Path, media: Path) -> Iterator[Accessio]:
    with Accessio(str(tmp_path / "catalog.db")) as accessio:
        accessio.add_integration("media", "local", root=str(media))
        accessio.create_folder("f")
        yield accessio


@pytest.fixture
def thumbnails(tmp_path: Path) -> Thumbnails:
    return Thumbnails(tmp_path / "cache")


def url(media: Path, name: str) -> str:
    return (media / name).as_uri()


def register(app: Accessio, spec: UploadSpec, integration: str = "media") -> dict[str, Any]:
    """Register ``spec`` (every unit must succeed); its top-level rows by name."""
    assert app.register(spec, folder="f", integration=integration).counts()["error"] == 0
    with app.engine.connect() as conn:
        rows = conn.execute(sa.select(items).where(items.c.parent_item_id.is_(None))).all()
    return {row.name: row for row in rows}


def images(media: Path, *names: str) -> UploadSpec:
    return UploadSpec(images=[ImageUnit(object_url=url(media, name), title=name) for name in names])


def opened(thumb: Thumbnail | None) -> Image.Image:
    assert thumb is not None
    assert thumb.media_type == MEDIA_TYPE == "image/webp"
    picture = Image.open(thumb.path)
    assert picture.format == "WEBP"
    picture.load()
    return picture


def test_a_12_megapixel_jpeg_becomes_256_pixels_wide(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    row = register(app, images(media, "12mp.jpg"))["12mp.jpg"]
    started = time.perf_counter()
    thumb = thumbnails.thumbnail(app, row)
    assert time.perf_counter() - started < 2  # loosely: the benchmark measures it
    assert opened(thumb).size == (256, 192)
    assert thumb is not None
    assert thumb.etag.startswith('"')
    assert thumb.etag.endswith('"')


def test_exif_orientation_turns_the_thumbnail(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    picture = opened(thumbnails.thumbnail(app, register(app, images(media, "turned.jpg"))["turned.jpg"]))
    assert picture.size == (192, 256)  # 400 x 300 stored, shown upright
    top, bottom = picture.convert("RGB").getpixel((96, 20)), picture.convert("RGB").getpixel((96, 236))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 150 > top[2]  # the stored left (red) half is on top once turned clockwise
    assert bottom[2] > 150 > bottom[0]


def test_a_png_keeps_its_transparency(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    picture = opened(thumbnails.thumbnail(app, register(app, images(media, "alpha.png"))["alpha.png"]))
    assert (picture.mode, picture.size) == ("RGBA", (256, 171))
    assert picture.getpixel((10, 80)) == (0, 0, 0, 0)
    clear = picture.getpixel((240, 80))
    assert isinstance(clear, tuple)
    assert clear[3] == 255


def test_a_decompression_bomb_is_refused_without_decoding(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    meta = ImageMetadata("image/png", (media / "bomb.png").stat().st_size, 30000, 30000)
    spec = UploadSpec(images=[ImageUnit(object_url=url(media, "bomb.png"), title="bomb", image_metadata=meta)])
    row = register(app, spec)["bomb"]
    started = time.perf_counter()
    with pytest.raises(ThumbnailRefused) as refused:
        thumbnails.thumbnail(app, row)
    assert time.perf_counter() - started < 0.5
    # decoding would have failed as truncated ("unreadable"): the header alone was enough
    assert (refused.value.reason, refused.value.status, refused.value.code) == (
        "tooManyPixels",
        422,
        "thumbnail.refused",
    )
    with pytest.raises(ThumbnailRefused, match="pixels"):  # remembered: asked again, refused again
        thumbnails.thumbnail(app, row)
    assert thumbnails.made == 0


def test_max_pixels_is_ours_to_set(app: Accessio, media: Path, tmp_path: Path) -> None:
    row = register(app, images(media, "mid.png"))["mid.png"]  # 9 MP: under Pillow's own guard
    with pytest.raises(ThumbnailRefused) as refused:
        Thumbnails(tmp_path / "c", max_pixels=4_000_000).thumbnail(app, row)
    assert refused.value.reason == "tooManyPixels"
    with pytest.raises(ThumbnailRefused) as truncated:  # allowed, so decoded: and it is damaged
        Thumbnails(tmp_path / "d").thumbnail(app, row)
    assert truncated.value.reason == "unreadable"


def test_a_truncated_jpeg_is_refused_as_unreadable(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    meta = ImageMetadata("image/jpeg", (media / "truncated.jpg").stat().st_size, 400, 300)
    spec = UploadSpec(images=[ImageUnit(object_url=url(media, "truncated.jpg"), title="t", image_metadata=meta)])
    with pytest.raises(ThumbnailRefused) as refused:
        thumbnails.thumbnail(app, register(app, spec)["t"])
    assert refused.value.reason == "unreadable"
    assert "truncated" in refused.value.message


def test_bytes_and_time_are_bounded(app: Accessio, media: Path, tmp_path: Path) -> None:
    row = register(app, images(media, "12mp.jpg"))["12mp.jpg"]
    with pytest.raises(ThumbnailRefused) as large:
        Thumbnails(tmp_path / "a", max_source_bytes=1_000_000).thumbnail(app, row)
    assert large.value.reason == "tooLarge"
    with pytest.raises(ThumbnailRefused) as slow:
        Thumbnails(tmp_path / "b", timeout_s=1e-6).thumbnail(app, row)
    assert slow.value.reason == "timeout"


def test_a_video_gets_a_poster_frame_turned_as_players_turn_it(
    app: Accessio, media: Path, thumbnails: Thumbnails
) -> None:
    spec = UploadSpec(videos=[Video(object_url=url(media, n), title=n) for n in ("small.mp4", "turned.mp4")])
    rows = register(app, spec)
    assert opened(thumbnails.thumbnail(app, rows["small.mp4"])).size == (32, 32)  # never upscaled
    assert rows["turned.mp4"].rotation == 90
    poster = np.asarray(opened(thumbnails.thumbnail(app, rows["turned.mp4"])).convert("L")).astype(int)
    assert poster.shape == (256, 192)  # 320 x 240 coded, turned a quarter
    assert poster[:40].mean() + 40 < poster[-40:].mean()  # the dark left edge is on top once turned clockwise


def test_a_video_read_past_its_bound_or_damaged_is_refused(app: Accessio, media: Path, tmp_path: Path) -> None:
    data = (media / "turned.mp4").read_bytes()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "cut.mp4").write_bytes(data[: len(data) // 3])
    app.add_integration("cut", "local", root=str(tmp_path / "cut"))
    meta = VideoMetadata(25, 1.0, 320, 240, len(data) // 3, "video/mp4")
    cut = Video(object_url=(tmp_path / "cut" / "cut.mp4").as_uri(), title="cut", video_metadata=meta)
    row = register(app, UploadSpec(videos=[cut]), "cut")["cut"]
    with pytest.raises(ThumbnailRefused) as damaged:  # moov written last, and cut off
        Thumbnails(tmp_path / "a").thumbnail(app, row)
    assert damaged.value.reason == "unreadable"
    whole = register(app, UploadSpec(videos=[Video(object_url=url(media, "turned.mp4"), title="whole")]))["whole"]
    with pytest.raises(ThumbnailRefused) as large:  # PyAV reads an end of file there, and stops
        Thumbnails(tmp_path / "b", max_source_bytes=20_000).thumbnail(app, whole)
    assert large.value.reason == "tooLarge"


def test_a_group_shows_its_first_member(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    app.set_write_prefix("media", str(media / "videos"))  # the sequence's video is written there
    spec = UploadSpec(
        image_groups=[
            ImageGroup(urls=(url(media, "first.jpg"), url(media, "second.jpg")), title="group"),
            ImageGroup(urls=(url(media, "second.jpg"), url(media, "first.jpg")), title="seq", create_video=True),
        ]
    )
    rows = register(app, spec)
    assert rows["seq"].item_type == "imageSequence"
    group = thumbnails.thumbnail(app, rows["group"])
    assert opened(group).size == (64, 48)
    assert opened(thumbnails.thumbnail(app, rows["seq"])).size == (40, 30)
    with app.engine.connect() as conn:
        member = conn.execute(sa.select(items).where(items.c.parent_item_id == rows["group"].id, items.c.position == 0))
        assert thumbnails.thumbnail(app, member.one()) == group  # one cached file for both


def test_a_dicom_series_shows_its_first_slice(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    spec = UploadSpec(dicom_series=[DicomSeries(urls=(url(media, "s1.dcm"), url(media, "s2.dcm")), title="ct")])
    picture = opened(thumbnails.thumbnail(app, register(app, spec)["ct"]))
    assert (picture.mode, picture.size) == ("RGB", (48, 64))
    grey = np.asarray(picture)[32, :, 0].astype(int)
    assert abs(grey[0] - 102) < 8  # 0 in a window of -160 to 240
    assert grey[-1] > 250  # over the window: white


def test_no_thumbnail_for_dicom_without_a_decoder_nor_for_pdfs(
    app: Accessio, media: Path, thumbnails: Thumbnails
) -> None:
    spec = UploadSpec(
        dicom_series=[DicomSeries(urls=(url(media, "jpegls.dcm"),), title="ls")],
        pdf=[Pdf(object_url=url(media, "doc.pdf"), title="doc", pdf_metadata=PdfMetadata(15, 1))],
    )
    rows = register(app, spec)
    assert thumbnails.thumbnail(app, rows["ls"]) is None
    assert thumbnails.thumbnail(app, rows["doc"]) is None
    assert thumbnails.thumbnail(app, rows["ls"]) is None  # remembered
    assert thumbnails.made == 0


def test_every_item_type_has_its_own_icon() -> None:
    types = ["video", "image", "imageGroup", "imageSequence", "dicomSeries", "dicomFile", "audio", "plainText",
             "pdf", "nifti"]  # fmt: skip
    names = [icon_name(t) for t in types]
    assert len(set(names)) == 10
    assert all(names)
    assert icon_name("hologram") == "file"


def test_a_strict_client_only_integration_is_never_read(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    app.add_integration("strict", "local", root=str(media), access_mode="strictClientOnly")
    meta = ImageMetadata("image/jpeg", 100, 400, 300)
    spec = UploadSpec(images=[ImageUnit(object_url=url(media, "turned.jpg"), title="s", image_metadata=meta)])
    with pytest.raises(ThumbnailRefused) as refused:
        thumbnails.thumbnail(app, register(app, spec, "strict")["s"])
    assert refused.value.reason == "readNotAllowed"
    assert not list((thumbnails._cache.root).glob("*/*"))


def test_the_second_call_is_a_cache_hit(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    row = register(app, images(media, "12mp.jpg"))["12mp.jpg"]
    first = thumbnails.thumbnail(app, row)
    started = time.perf_counter()
    second = thumbnails.thumbnail(app, row)
    assert time.perf_counter() - started < 0.05
    assert first == second
    assert (thumbnails.made, thumbnails.hits) == (1, 1)
    again = Thumbnails(thumbnails._cache.root).thumbnail(app, row)  # another process, the same cache
    assert again == first


def test_the_least_recently_used_are_evicted_over_the_bound(app: Accessio, media: Path, tmp_path: Path) -> None:
    rows = register(app, images(media, *(f"n{n}.jpg" for n in range(5))))
    probe = Thumbnails(tmp_path / "probe").thumbnail(app, rows["n0.jpg"])
    assert probe is not None
    one = probe.path.stat().st_size
    thumbnails = Thumbnails(tmp_path / "cache", max_cache_bytes=int(one * 3.5))
    made = [thumbnails.thumbnail(app, rows[f"n{n}.jpg"]) for n in range(3)]
    thumbnails.thumbnail(app, rows["n0.jpg"])  # used again: now the most recent
    for n in (3, 4):
        thumbnails.thumbnail(app, rows[f"n{n}.jpg"])
    kept = {p.name for p in (tmp_path / "cache").glob("*/*.webp")}
    assert sum(p.stat().st_size for p in (tmp_path / "cache").glob("*/*")) <= one * 3.5
    assert made[0] is not None
    assert made[0].path.name in kept
    assert made[1] is not None
    assert made[1].path.name not in kept
    assert len(kept) == 3


def test_eight_threads_asking_at_once_decode_once(app: Accessio, media: Path, thumbnails: Thumbnails) -> None:
    row = register(app, images(media, "12mp.jpg"))["12mp.jpg"]
    start = threading.Barrier(8)

    def ask(_: int) -> Thumbnail | None:
        start.wait()
        return thumbnails.thumbnail(app, row)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert len(set(answers)) == 1
    assert answers[0] is not None
    assert (thumbnails.made, thumbnails.hits) == (1, 7)
    assert len(list(thumbnails._cache.root.glob("*/*"))) == 1  # no temporary file left


@pytest.fixture
def moto(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:  # noqa: F811
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    return moto_s3


def test_through_s3_an_image_is_read_in_two_requests(
    app: Accessio, media: Path, moto: MotoS3, thumbnails: Thumbnails
) -> None:
    moto.put("thumbs", "12mp.jpg", (media / "12mp.jpg").read_bytes(), "image/jpeg")
    moto.put("thumbs", "turned.mp4", (media / "turned.mp4").read_bytes(), "video/mp4")
    app.add_integration(
        "s3", "s3Compatible", endpoint=moto.endpoint, credentials="env:MOTO", allow_private_network=True
    )
    spec = UploadSpec(
        images=[ImageUnit(object_url=f"{moto.endpoint}/thumbs/12mp.jpg", title="photo")],
        videos=[Video(object_url=f"{moto.endpoint}/thumbs/turned.mp4", title="clip")],
    )
    rows = register(app, spec, "s3")
    moto.clear()
    assert opened(thumbnails.thumbnail(app, rows["photo"])).size == (256, 192)
    assert len(moto.requests(path="/thumbs/12mp.jpg", method="GET")) == 2  # the first block, then the rest
    assert opened(thumbnails.thumbnail(app, rows["clip"])).size == (192, 256)
