"""Seeded mutation fuzzing of the JSON and CSV readers: whatever the bytes, a parse
returns a spec or raises SpecInvalid, and does so quickly."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import msgspec
import pytest

from accessio.errors import SpecInvalid
from accessio.spec import UploadSpec, parse_csv, parse_json, parse_object

ITERATIONS = 1500
MAX_SECONDS = 2.0

JSON_SEEDS = [
    b'{"images": [{"objectUrl": "s3://bucket/a.jpg", "title": "A cat"}]}',
    b"""{
  "videos": [
    {"objectUrl": "https://b.s3.eu-west-2.amazonaws.com/v%2023.mp4", "title": "Video",
     "clientMetadata": {"tags": ["x", "y"], "score": 0.5, "nested": {"a": [1, 2, {"b": null}]}},
     "videoMetadata": {"fps": 25, "duration": 10.5, "width": 640, "height": 480,
                       "file_size": 100, "mime_type": "video/mp4"}}
  ],
  "image_groups": [
    {"title": "g", "createVideo": true, "objectUrl_0": "s3://b/0.jpg", "objectUrl_1": "s3://b/1.jpg",
     "imageMetadata_1": {"mimeType": "image/jpeg", "fileSize": 3, "width": 2, "height": 1}}
  ],
  "dicom_series": [{"title": "S", "objectUrl_0": "gs://b/1.dcm", "objectUrl_1": "gs://b/2.dcm"}],
  "audio": [{"objectUrl": "s3://b/a.mp3", "audioMetadata": {"duration_seconds": 1.5, "file_size": 10,
            "mime_type": "audio/mpeg", "sample_rate": 8000, "bit_depth": 16, "codec": "mp3", "num_channels": 2}}],
  "pdfs": [{"objectUrl": "s3://b/d.pdf", "pdfMetadata": {"fileSize": 9, "numPages": 3}}],
  "text": [{"objectUrl": "s3://b/t.txt", "title": "\\u00e9t\\u00e9 \\ud83d\\ude00"}],
  "nifti": [{"objectUrl": "s3://b/n.nii.gz"}],
  "skip_duplicate_urls": true,
  "upsert_metadata": true
}""",
    b"""{"imageGroups": [{"title": "G", "createVideo": false, "externalFileType": "IMG_GROUP",
  "images": [{"url": "s3://b/0.png", "title": "zero"}, {"url": "s3://b/1.png",
  "imageMetadata": {"mime_type": "image/png", "file_size": 1, "width": 1, "height": 1}}]}],
 "dicomSeries": [{"title": "Series 1", "dicomFiles": [{"url": "s3://b/1.dcm"}, {"url": "s3://b/2.dcm"}]}],
 "videos": [{"objectUrl": "s3://b/v.mp4", "externalFileType": "VIDEO"}],
 "skipDuplicateUrls": true}""",
]

CSV_SEEDS = [
    b"ObjectUrl,Image title\ns3://bucket/a.jpg,A cat\ns3://bucket/b.jpg,\n",
    b"\xef\xbb\xbfObjectUrl,Image group title,Create video\r\n"
    b"s3://b/0.jpg,g1,true\r\ns3://b/1.jpg,g1,TRUE\r\ns3://b/2.jpg,g2,false\r\ns3://b/3.jpg,g1,\r\n"
    b"\r\n"
    b"ObjectURL,Series title\r\ngs://b/1.dcm,S\r\ngs://b/2.dcm,S\r\ngs://b/3.dcm,\r\n"
    b'ObjectUrl,Video title,Create video\r\n"s3://b/v,1.mp4","A ""quoted""\nmulti-line title",false\r\n',
    b"ObjectUrl\ns3://b/v.mp4\ns3://b/w.mov\n"
    b"ObjectUrl,Audio title\ns3://b/a.mp3,Song\n"
    b"ObjectUrl,PDF title\ns3://b/d.pdf,Doc\n"
    b"ObjectUrl,Text title\ns3://b/t.txt,\xc3\xa9t\xc3\xa9\n"
    b"ObjectUrl,NIfTI title\ns3://b/n.nii.gz,Brain\n",
]

JSON_INSERTS = [b"{", b"}", b"[", b'"', b"\\", b"NaN", b",", b":", b"-Infinity", b"\xff", b"\\u", b"\x00", b"1e999"]
CSV_INSERTS = [b",", b'"', b"\n", b"\r", b"\\", b"ObjectUrl,", b"true", b" ", b"\xff", b"\x00", b"\xef\xbb\xbf"]


def mutate(rng: random.Random, data: bytes, inserts: list[bytes]) -> bytes:
    """One to four random edits: flip, truncate, insert, delete or duplicate a range."""
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3, 4])):
        size = len(out)
        at = rng.randint(0, size)
        op = rng.randrange(6)
        if op == 0 and size:
            at = min(at, size - 1)
            out[at] = rng.randrange(256) if rng.random() < 0.5 else out[at] ^ (1 << rng.randrange(8))
        elif op == 1:
            del out[at:]
        elif op == 2:
            out[at:at] = rng.choice(inserts) * rng.choice([1, 1, 1, 2, 70])
        elif op == 3:
            del out[at : at + rng.randint(1, 40)]
        elif op == 4:
            end = min(size, at + rng.randint(1, 60))
            out[end:end] = out[at:end]
        else:
            out[at:at] = rng.choice(inserts)
    return bytes(out)


def timed(call: Callable[[], UploadSpec]) -> UploadSpec | SpecInvalid:
    """Run one parse: it returns a spec or raises SpecInvalid, within the time limit."""
    start = time.perf_counter()
    try:
        result: UploadSpec | SpecInvalid = call()
    except SpecInvalid as exc:
        result = exc
    elapsed = time.perf_counter() - start
    assert elapsed < MAX_SECONDS, f"one parse took {elapsed:.2f} s"
    if isinstance(result, SpecInvalid):
        assert result.issues, "SpecInvalid without issues"
    else:
        assert isinstance(result, UploadSpec)
    return result


def test_seeds_are_valid() -> None:
    for seed in JSON_SEEDS:
        assert isinstance(parse_json(seed), UploadSpec)
    for seed in CSV_SEEDS:
        assert isinstance(parse_csv(seed), UploadSpec)
    assert parse_csv(CSV_SEEDS[1]).counts() == {"imageSequence": 1, "imageGroup": 1, "dicomSeries": 2, "video": 1}


def test_mutated_json_specs() -> None:
    rng = random.Random(20240501)
    outcomes = {"accepted": 0, "rejected": 0}
    for iteration in range(ITERATIONS):
        data = mutate(rng, rng.choice(JSON_SEEDS), JSON_INSERTS)
        result = timed(lambda data=data: parse_json(data))  # type: ignore[misc]
        if iteration % 5 == 0:  # the same text handed over as str
            text = data.decode("utf-8", errors="surrogateescape")
            timed(lambda text=text: parse_json(text))  # type: ignore[misc]
        if isinstance(result, UploadSpec):
            outcomes["accepted"] += 1
            # anything accepted is strict JSON, and the thorough path reads it alike
            decoded = msgspec.json.decode(data.removeprefix(b"\xef\xbb\xbf"))
            assert parse_object(decoded) == result, data
        else:
            outcomes["rejected"] += 1
    assert outcomes["accepted"] > 20
    assert outcomes["rejected"] > 500


def test_mutated_csv_specs() -> None:
    rng = random.Random(20240502)
    outcomes = {"accepted": 0, "rejected": 0}
    for iteration in range(ITERATIONS):
        data = mutate(rng, rng.choice(CSV_SEEDS), CSV_INSERTS)
        result = timed(lambda data=data: parse_csv(data))  # type: ignore[misc]
        if iteration % 5 == 0:
            text = data.decode("utf-8", errors="surrogateescape")
            timed(lambda text=text: parse_csv(text))  # type: ignore[misc]
        outcomes["accepted" if isinstance(result, UploadSpec) else "rejected"] += 1
    assert outcomes["accepted"] > 100
    assert outcomes["rejected"] > 100


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"[" * 100_000, id="100k-arrays"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-arrays-closed"),
        pytest.param(b'{"a":' * 100_000, id="100k-objects"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="100k-objects-closed"),
        pytest.param(b'{"images":[{"objectUrl":"s3://b/a","clientMetadata":' + b'{"a":' * 400_000, id="deep-metadata"),
        pytest.param(b"[" * (50 * 1024 * 1024), id="50MB-arrays"),
    ],
)
def test_absurd_nesting_is_rejected_quickly(data: bytes) -> None:
    result = timed(lambda: parse_json(data))
    assert isinstance(result, SpecInvalid)
    assert [issue.code for issue in result.issues] == ["json.too_deep"]
    assert result.issues[0].location.startswith("line 1, column ")
