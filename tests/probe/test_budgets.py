"""Bytes and requests per format, counted by the production RangedReader with the block
size jobs use for each kind (32 KiB for images, 64 KiB for the rest)."""

from __future__ import annotations

import struct

import pytest

from accessio.probe import ProbeLimits, ProbeTimeout, ProbeTooLarge, block_size_for, probe
from tests.media import Entry
from tests.probe.conftest import ranged

KIB = 1024


def _moov_size(data: bytes) -> int:
    at = data.rfind(b"moov") - 4
    return int(struct.unpack_from(">I", data, at)[0])


def _cost(entry: Entry) -> tuple[int, int, int]:
    data = entry.path.read_bytes()
    reader = ranged(data, block_size_for(entry.kind))
    probe(reader, entry.kind)
    return reader.requests, reader.bytes_read, len(data)


@pytest.mark.parametrize(
    ("kind", "max_bytes", "max_requests"),
    [("image", 64 * KIB, 2), ("audio", 128 * KIB, 2), ("nifti", 64 * KIB, 1), ("text", 64 * KIB, 1)],
)
def test_kind_budget(corpus: list[Entry], kind: str, max_bytes: int, max_requests: int) -> None:
    for entry in corpus:
        if entry.group == "valid" and entry.kind == kind:
            requests, read, _ = _cost(entry)
            assert read <= max_bytes, (entry.name, read)
            assert requests <= max_requests, (entry.name, requests)


def test_a_tiff_whose_directory_follows_its_data_costs_two_small_requests(by_name: dict[str, Entry]) -> None:
    data = by_name["tiff-exif-5"].path.read_bytes()
    assert int.from_bytes(data[4:8], "little") > 64 * KIB  # libtiff put the first directory after the data
    requests, read, _ = _cost(by_name["tiff-exif-5"])
    assert (requests, read <= 64 * KIB) == (2, True)


def test_mp4_with_the_index_at_the_start_reads_at_most_256_kib(by_name: dict[str, Entry]) -> None:
    for name in ("mp4-moov-start", "mp4-ntsc", "mp4-rotated-90"):
        _, read, size = _cost(by_name[name])
        assert read <= 256 * KIB, name
        assert size > 512 * KIB  # the budget means something: the file is much larger


def test_mp4_with_the_index_at_the_end_costs_three_requests_plus_the_index(by_name: dict[str, Entry]) -> None:
    for name in ("mp4-moov-end", "mov"):
        entry = by_name[name]
        requests, read, _ = _cost(entry)
        assert requests <= 3, name
        assert read <= 3 * 64 * KIB + _moov_size(entry.path.read_bytes()), name


def test_videos_of_other_containers_read_a_block_or_two(corpus: list[Entry]) -> None:
    for entry in corpus:
        if entry.group == "valid" and entry.kind == "video" and entry.name != "mp4-fragmented":
            requests, read, _ = _cost(entry)
            assert requests <= 3, (entry.name, requests)
            assert read <= 256 * KIB, (entry.name, read)


def test_a_fragmented_mp4_without_mehd_costs_a_request_per_fragment_at_most(by_name: dict[str, Entry]) -> None:
    data = by_name["mp4-fragmented"].path.read_bytes()
    fragments = data.count(b"moof")
    assert fragments >= 3
    requests, read, size = _cost(by_name["mp4-fragmented"])
    assert requests <= 1 + fragments
    assert read <= 64 * KIB * (1 + fragments)
    assert read < size / 2


@pytest.mark.parametrize("name", ["pdf-10mb", "dicom-10mb"])
def test_ten_megabyte_pdf_and_dicom_read_under_ten_percent(by_name: dict[str, Entry], name: str) -> None:
    _, read, size = _cost(by_name[name])
    assert size >= 10_000_000
    assert read < size / 10


def test_a_probe_past_its_byte_budget_fails(by_name: dict[str, Entry]) -> None:
    data = by_name["pdf-10mb"].path.read_bytes()
    with pytest.raises(ProbeTooLarge, match="budget") as caught:
        probe(ranged(data), "pdf", url="s3://b/k.pdf", limits=ProbeLimits(max_bytes=66_000))
    assert caught.value.code == "probe.too_large"
    assert caught.value.url == "s3://b/k.pdf"


def test_a_probe_past_its_deadline_fails(by_name: dict[str, Entry]) -> None:
    data = by_name["pdf-10mb"].path.read_bytes()
    with pytest.raises(ProbeTimeout) as caught:
        probe(ranged(data), "pdf", limits=ProbeLimits(timeout_s=-1))
    assert caught.value.code == "probe.timeout"
