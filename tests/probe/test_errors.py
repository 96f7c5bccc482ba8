"""Type mismatches, broken and hostile files: a ProbeError with a stable code, within bounds."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import tracemalloc

import pytest

import accessio.probe
from accessio.errors import AccessioError
from accessio.probe import Kind, ProbeError, ProbeTypeMismatch, probe, probe_content
from tests.media import Entry
from tests.probe.conftest import file_ranged
from tests.probe.test_values import mismatches

MIB = 1024 * 1024


def test_public_names_are_pinned() -> None:
    assert sorted(accessio.probe.__all__) == [
        "BinaryReader", "DEFAULT_LIMITS", "Kind", "MediaInfo", "ProbeCorrupt", "ProbeError", "ProbeLimits",
        "ProbeTimeout", "ProbeTooLarge", "ProbeTypeMismatch", "ProbeUnsupported", "block_size_for", "kind_of_mime",
        "probe", "probe_content", "sniff",
    ]  # fmt: skip


def test_content_alone_says_the_kind_and_what_is_not_media_is_none(by_name: dict[str, Entry]) -> None:
    """What a synced folder's objects are probed with: no declared type, no name to go by."""
    assert probe_content(file_ranged(by_name["jpeg"].path)).kind is Kind.IMAGE
    assert probe_content(file_ranged(by_name["m4a-aac"].path)).kind is Kind.AUDIO  # an MP4 holding only sound
    assert probe_content(io.BytesIO(bytes(range(256)) * 64)) is None


def test_a_jpeg_declared_as_a_video_is_a_type_mismatch(by_name: dict[str, Entry]) -> None:
    with pytest.raises(ProbeTypeMismatch) as caught:
        probe(file_ranged(by_name["jpeg"].path), "video", url="s3://b/clip.mp4")
    assert str(caught.value) == "Expected a video, got a file of type image/jpeg"
    assert caught.value.code == "probe.type_mismatch"
    assert caught.value.status == 422
    assert isinstance(caught.value, AccessioError)
    assert caught.value.url == "s3://b/clip.mp4"


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("m4a-aac", "video", "Expected a video, got a file of type audio/mp4"),
        ("mp4-moov-start", "audio", "Expected an audio file, got a file of type video/mp4"),
        ("pdf-classic", "image", "Expected an image, got a file of type application/pdf"),
        ("text-utf8", "dicom", "Expected a DICOM file, got a file of type text/plain"),
        ("dicom-ct", "text", "Expected a text file, got a file of type application/dicom"),
        ("png", "nifti", "Expected a NIfTI file, got a file of type image/png"),
        ("nifti1", "pdf", "Expected a PDF, got a file of type application/x-nifti"),
    ],
)
def test_type_mismatch_messages(by_name: dict[str, Entry], name: str, kind: str, message: str) -> None:
    with pytest.raises(ProbeTypeMismatch, match=f"^{message}$"):
        probe(file_ranged(by_name[name].path), kind)


def test_binary_noise_is_not_text() -> None:
    with pytest.raises(ProbeTypeMismatch, match="application/octet-stream"):
        probe(io.BytesIO(bytes(range(256)) * 10), "text")


def test_broken_and_hostile_files_fail_fast_with_their_code(corpus: list[Entry]) -> None:
    outcomes = {}
    for entry in corpus:
        if entry.group == "valid":
            continue
        tracemalloc.start()
        started = time.perf_counter()
        try:
            info = probe(file_ranged(entry.path), entry.kind)
            outcome = "ok" if not mismatches(info, entry.truth) else f"wrong {mismatches(info, entry.truth)}"
        except ProbeError as exc:
            outcome = exc.code
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        outcomes[entry.name] = outcome
        assert elapsed < 10, entry.name
        assert peak < 512 * MIB, entry.name
    assert outcomes == {e.name: e.error or "ok" for e in corpus if e.group != "valid"}


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from accessio.probe import ProbeError, probe
from tests.probe.conftest import file_ranged
with open("/proc/self/status") as status:
    vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + 512 * 1024 * 1024, resource.RLIM_INFINITY))
results = {}
for path, kind in json.loads(sys.stdin.read()):
    started = time.perf_counter()
    try:
        probe(file_ranged(Path(path)), kind)
        outcome = "ok"
    except ProbeError as exc:
        outcome = exc.code
    results[path] = [outcome, time.perf_counter() - started]
print(json.dumps(results))
"""


@pytest.mark.slow
def test_hostile_files_fail_within_512_mib_of_address_space(corpus: list[Entry]) -> None:
    """In a child process whose address space is capped: a probe that tried to allocate would die."""
    hostile = [e for e in corpus if e.group == "hostile"]
    job = json.dumps([[str(e.path), e.kind] for e in hostile])
    done = subprocess.run([sys.executable, "-c", _CHILD], input=job, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for entry in hostile:
        outcome, elapsed = results[str(entry.path)]
        assert outcome == (entry.error or "ok"), entry.name
        assert elapsed < 10, entry.name


@pytest.mark.parametrize(("name", "item_type"), [("text-utf8", "plainText"), ("dicom-ct", "dicomFile"),
                                                  ("png", "imageGroup")])  # fmt: skip
def test_item_types_name_their_kind(by_name: dict[str, Entry], name: str, item_type: str) -> None:
    assert probe(file_ranged(by_name[name].path), item_type).kind == by_name[name].kind


def test_an_unknown_kind_is_a_programming_error(by_name: dict[str, Entry]) -> None:
    with pytest.raises(ValueError, match="spreadsheet"):
        probe(file_ranged(by_name["png"].path), "spreadsheet")
