"""``accessio spec generate``: a spec from a real listing (a local tree, and moto's S3 server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, moto_s3  # noqa: F401
from typer.testing import CliRunner

from accessio.cli import app
from accessio.service import Accessio
from accessio.spec import DicomSeries, Image, PlainText, TextMetadata, UploadSpec, load_spec, parse_csv
from accessio.spec.generate import ListingTooLarge, generate, write_csv
from accessio.spec.limits import Limits

runner = CliRunner()

FILES = {
    "img/b.png": b"png-bytes",
    "img/a.jpg": b"jpeg",
    "vid/c.mp4": b"mp4-video-bytes",
    "aud/d.wav": b"RIFF....WAVE",
    "docs/e.pdf": b"%PDF-1.4",
    "notes/f.txt": b"hello, text",
    "notes/g.md": b"# a markdown note\n",
    "vol/h.nii.gz": b"nifti",
    "scans/s1/2.dcm": b"dicom-2",
    "scans/s1/10.dcm": b"dicom-10",
    "scans/s1/1.dcm": b"dicom-1",
    "scans/s2/x.dicom": b"dicom-x",
    "junk.xyz": b"???",
}


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def env(tmp_path: Path, media: Path) -> dict[str, str]:
    catalog = str(tmp_path / "catalog.db")
    with Accessio(catalog) as accessio:
        accessio.add_integration("media", "local", root=str(media))
    return {"ACCESSIO_CATALOG": catalog}


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["spec", "generate", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def uri(media: Path, name: str) -> str:
    return (media / name).resolve().as_uri()


def test_auto_sorts_every_type_and_the_spec_validates(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, stdout, stderr = run(env, media.as_uri(), "--integration", "media", "-o", str(target))
    assert code == 0, stderr
    assert stdout == ""
    spec = load_spec(target)
    assert spec.counts() == {
        "video": 1,
        "image": 2,
        "dicomSeries": 2,
        "audio": 1,
        "plainText": 2,
        "pdf": 1,
        "nifti": 1,
    }
    assert spec.url_count() == 12
    assert spec.skip_duplicate_urls  # by default: registering the prefix again adds only new objects
    assert [i.object_url for i in spec.images] == [uri(media, "img/a.jpg"), uri(media, "img/b.png")]
    assert all(i.title is None and i.client_metadata is None for i in spec.images)
    assert spec.dicom_series == [
        DicomSeries(
            urls=(uri(media, "scans/s1/1.dcm"), uri(media, "scans/s1/10.dcm"), uri(media, "scans/s1/2.dcm")),
            title="scans/s1",
        ),
        DicomSeries(urls=(uri(media, "scans/s2/x.dicom"),), title="scans/s2"),
    ]
    assert "skipped 1 of unknown type (.xyz 1)" in stderr
    assert "listed 13 objects" in stderr
    validated = runner.invoke(app, ["spec", "validate", str(target)])
    assert validated.exit_code == 0, validated.stdout


def test_stdout_and_a_plain_path_prefix(env: dict[str, str], media: Path) -> None:
    code, stdout, _ = run(env, str(media / "scans"), "--integration", "media")
    assert code == 0
    document = json.loads(stdout)
    assert list(document) == ["dicom_series", "skip_duplicate_urls"]
    assert [s["title"] for s in document["dicom_series"]] == ["s1", "s2"]


def test_dicom_files_directly_under_the_prefix(env: dict[str, str], media: Path) -> None:
    (media / "scans" / "top.dcm").write_bytes(b"dicom-top")
    code, stdout, _ = run(env, str(media / "scans"), "--integration", "media", "--type", "dicom")
    assert code == 0
    titles = {s["title"]: s["objectUrl_0"] for s in json.loads(stdout)["dicom_series"]}
    assert titles["."] == uri(media, "scans/top.dcm")
    assert set(titles) == {".", "s1", "s2"}


def test_type_keeps_one_type(env: dict[str, str], media: Path) -> None:
    code, stdout, stderr = run(env, media.as_uri(), "--integration", "media", "--type", "images")
    assert code == 0
    assert json.loads(stdout) == {
        "images": [{"objectUrl": uri(media, n)} for n in ("img/a.jpg", "img/b.png")],
        "skip_duplicate_urls": True,
    }
    assert "10 of other types (--type)" in stderr
    assert "1 of unknown type" in stderr


def test_csv_round_trips_through_the_csv_parser(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    code, as_csv, _ = run(env, media.as_uri(), "--integration", "media", "--format", "csv")
    assert code == 0
    code, as_json, _ = run(env, media.as_uri(), "--integration", "media", "--keep-duplicate-urls")
    assert code == 0
    parsed = parse_csv(as_csv)
    assert parsed == load_spec_text(as_json, tmp_path)
    assert parsed.unit_count() == 10
    lines = as_csv.splitlines()
    start = lines.index("ObjectUrl,Series title")
    assert lines[start + 1 : start + 5] == [
        f"{uri(media, 'scans/s1/1.dcm')},scans/s1",
        f"{uri(media, 'scans/s1/10.dcm')},scans/s1",
        f"{uri(media, 'scans/s1/2.dcm')},scans/s1",
        f"{uri(media, 'scans/s2/x.dicom')},scans/s2",
    ]
    assert "ObjectUrl,Image title" in lines
    assert f"{uri(media, 'img/a.jpg')}," in lines


def load_spec_text(text: str, tmp_path: Path) -> UploadSpec:
    path = tmp_path / "compare.json"
    path.write_text(text)
    return load_spec(path)


def test_with_metadata_fills_text_only(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    code, _, stderr = run(env, media.as_uri(), "--integration", "media", "--with-metadata", "-o", str(target))
    assert code == 0
    spec = load_spec(target)
    sizes = {t.object_url: t.text_metadata for t in spec.text}
    assert sizes == {
        uri(media, "notes/f.txt"): TextMetadata(len(FILES["notes/f.txt"]), "text/plain"),
        uri(media, "notes/g.md"): TextMetadata(len(FILES["notes/g.md"]), "text/markdown"),
    }
    assert all(i.image_metadata is None and i.client_metadata is None for i in spec.images)
    assert all(v.video_metadata is None and v.client_metadata is None for v in spec.videos)
    assert spec.pdf[0].pdf_metadata is None
    assert "filled textMetadata of 2 text files from the listing" in stderr
    for kind in ("images", "videos", "audio", "pdf", "dicom_series"):
        assert kind in stderr.split("metadata not filled", 1)[1]


def test_failures_and_misuse(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    code, stdout, stderr = run(env, tmp_path.as_uri(), "--integration", "media")
    assert (code, stdout) == (1, "")
    assert stderr.startswith("error: ")
    assert "outside the integration" in stderr
    assert len(stderr.strip().splitlines()) == 1
    code, _, stderr = run(env, str(media / "missing"), "--integration", "media")
    assert code == 1
    assert "no objects" in stderr
    code, _, stderr = run(env, media.as_uri(), "--integration", "nope")
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1
    assert run(env, media.as_uri(), "--integration", "media", "--type", "movies")[0] == 2
    assert run(env, media.as_uri(), "--integration", "media", "--format", "xml")[0] == 2
    assert run(env, media.as_uri(), "--integration", "media", "--format", "csv", "--with-metadata")[0] == 2
    assert run(env, media.as_uri())[0] == 2  # --integration is required


def test_library_limits_and_csv_refusals(env: dict[str, str], media: Path) -> None:
    storage = Accessio(env["ACCESSIO_CATALOG"]).storage("media")
    with pytest.raises(ListingTooLarge):
        generate(storage, media.as_uri(), limits=Limits(max_units=3))
    generated = generate(storage, media.as_uri(), unit_type="text", with_metadata=True)
    assert len(generated.spec.text) == 2
    with pytest.raises(ValueError, match="metadata"):
        write_csv(generated.spec)
    with pytest.raises(ValueError, match="skip_duplicate_urls"):
        write_csv(UploadSpec(images=[Image(object_url="s3://b/a.jpg")], skip_duplicate_urls=True))
    plain = UploadSpec(text=[PlainText(object_url="s3://b/a b.txt".replace(" ", "%20"), title="A, b")])
    assert parse_csv(write_csv(plain)) == plain


def test_s3_prefix_through_moto(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    for key in ("set/b.mp4", "set/a.jpg", "set/scan/2.dcm", "set/scan/1.dcm", "set/readme.txt", "setx/c.jpg"):
        moto_s3.put("generate", key, b"bytes of " + key.encode())
    moto_s3.put("generate", "set/skip.bin", b"?")
    catalog = str(tmp_path / "catalog.db")
    with Accessio(catalog) as accessio:
        accessio.add_integration(
            "minio", "s3Compatible", endpoint=moto_s3.endpoint, credentials="env:MOTO", allow_private_network=True
        )
    env = {"ACCESSIO_CATALOG": catalog}
    base = f"{moto_s3.endpoint}/generate"
    target = tmp_path / "s3.json"
    code, _, stderr = run(env, f"{base}/set/", "--integration", "minio", "--with-metadata", "-o", str(target))
    assert code == 0, stderr
    spec = load_spec(target)
    assert spec.counts() == {"video": 1, "image": 1, "dicomSeries": 1, "plainText": 1}
    assert [i.object_url for i in spec.images] == [f"{base}/set/a.jpg"]
    assert spec.dicom_series == [DicomSeries(urls=(f"{base}/set/scan/1.dcm", f"{base}/set/scan/2.dcm"), title="scan")]
    assert spec.text[0].text_metadata == TextMetadata(len(b"bytes of set/readme.txt"), "text/plain")
    assert "1 of unknown type (.bin 1)" in stderr
    code, _, stderr = run(env, f"{moto_s3.endpoint}/no-such-bucket/set/", "--integration", "minio")
    assert code == 1
    assert stderr.startswith("error: ")
    assert len(stderr.strip().splitlines()) == 1
