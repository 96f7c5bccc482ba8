"""Mutated and truncated corpus files: a probe returns or raises ProbeError, nothing else, and fast."""

from __future__ import annotations

import contextlib
import io
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accessio.probe import ProbeError, ProbeLimits, probe
from tests.media import Entry

# Small files of every format: a mutation anywhere in them can land in a header.
SEEDS = [
    "jpeg-progressive", "png-exif-8", "gif", "bmp", "webp-lossless", "webp-exif-6", "tiff-exif-5", "avif", "webm",
    "avi", "mpegts-mpeg2", "mp3", "ogg-opus", "m4a-aac", "aac-adts", "wav-s24", "pdf-pillow", "pdf-classic",
    "pdf-incremental", "pdf-xref-stream", "text-utf8", "dicom-ct", "dicom-enhanced", "nifti1-4d-gz", "nifti2",
    "mpeg-ps", "aiff", "mp4-fragmented",
]  # fmt: skip
LIMITS = ProbeLimits(timeout_s=5)


def mutate(draw: st.DataObject, seeds: dict[str, tuple[str, bytes]]) -> tuple[str, str, bytes]:
    name = draw.draw(st.sampled_from(sorted(seeds)), label="seed")
    kind, original = seeds[name]
    data = bytearray(original)
    for _ in range(draw.draw(st.integers(1, 8))):
        # Headers matter most: half the positions fall in the first 2 KiB.
        last = len(data) - 1
        at = draw.draw(st.one_of(st.integers(0, min(last, 2048)), st.integers(0, last)))
        action = draw.draw(st.sampled_from(["set", "flip", "insert", "delete", "max"]))
        if action == "set":
            data[at] = draw.draw(st.integers(0, 255))
        elif action == "flip":
            data[at] ^= 1 << draw.draw(st.integers(0, 7))
        elif action == "insert":
            data[at:at] = draw.draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del data[at : at + draw.draw(st.integers(1, 64))]
        else:
            data[at : at + 4] = b"\xff\xff\xff\xff"
        if not data:
            data = bytearray(b"\x00")
    if draw.draw(st.booleans()):
        data = data[: draw.draw(st.integers(0, len(data)))]
    return name, kind, bytes(data)


@pytest.fixture(scope="module")
def seeds(by_name: dict[str, Entry]) -> dict[str, tuple[str, bytes]]:
    return {name: (by_name[name].kind, by_name[name].path.read_bytes()) for name in SEEDS}


@pytest.mark.slow
def test_mutated_files_only_ever_raise_probe_errors(seeds: dict[str, tuple[str, bytes]]) -> None:
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(draw=st.data())
    def check(draw: st.DataObject) -> None:
        name, kind, data = mutate(draw, seeds)
        started = time.perf_counter()
        with contextlib.suppress(ProbeError):
            probe(io.BytesIO(data), kind, limits=LIMITS)
        assert time.perf_counter() - started < 5, name

    check()
