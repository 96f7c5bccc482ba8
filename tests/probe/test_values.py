"""Every probed value equals the corpus's ground truth, read through the production reader."""

from __future__ import annotations

import math
from typing import Any

import pytest

from accessio.probe import Kind, MediaInfo, probe, sniff
from accessio.spec.model import DicomAttribute
from tests.media import Entry
from tests.probe.conftest import file_ranged

KINDS = [kind.value for kind in Kind]


def mismatches(info: MediaInfo, truth: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields where the probe disagrees with the truth; fps and duration may differ by 1%."""
    wrong = {}
    for key, expected in truth.items():
        got = getattr(info, key)
        if key in ("fps", "duration"):
            ok = got is not None and math.isclose(got, expected, rel_tol=0.01)
        else:
            ok = got == expected
        if not ok:
            wrong[key] = (got, expected)
    return wrong


@pytest.mark.parametrize("kind", KINDS)
def test_every_valid_file_probes_to_its_truth(corpus: list[Entry], kind: str) -> None:
    entries = [e for e in corpus if e.group == "valid" and e.kind == kind]
    assert entries, f"the corpus has no valid {kind}"
    failures = {}
    for entry in entries:
        info = probe(file_ranged(entry.path), kind, url=str(entry.path))
        assert info.kind == kind
        assert info.file_size == entry.path.stat().st_size
        wrong = mismatches(info, entry.truth)
        if wrong:
            failures[entry.name] = wrong
    assert not failures


def test_the_same_from_a_plain_file(corpus: list[Entry]) -> None:
    for entry in corpus:
        if entry.group == "valid":
            with entry.path.open("rb") as handle:
                assert not mismatches(probe(handle, entry.kind), entry.truth), entry.name


def test_sniff_goes_by_content_not_name(corpus: list[Entry], tmp_path: Any) -> None:
    for entry in corpus:
        if entry.group == "valid":
            renamed = tmp_path / "object.bin"
            renamed.write_bytes(entry.path.read_bytes())
            with renamed.open("rb") as handle:
                assert sniff(handle) == entry.truth["mime_type"] if "mime_type" in entry.truth else True, entry.name


def test_dicom_tags_are_the_encord_set_in_the_json_model(by_name: dict[str, Entry]) -> None:
    from accessio.spec.convert import REQUIRED_DICOM_TAGS  # noqa: PLC0415

    info = probe(file_ranged(by_name["dicom-enhanced"].path), "dicom")
    tags = info.dicom_tags
    assert tags is not None
    assert set(tags) == set(REQUIRED_DICOM_TAGS)
    rows, spacing, study, shared = tags["00280010"], tags["00280030"], tags["0020000D"], tags["52009229"]
    assert rows == DicomAttribute(vr="US", value=[64])
    assert spacing == DicomAttribute(vr="DS", value=[0.5, 0.5])
    assert study == DicomAttribute(vr="UI", value=[info.dicom_study_uid])
    assert tags["00181164"] is None  # ImagerPixelSpacing: absent from the file, present as a key
    assert shared is not None
    assert shared.vr == "SQ"
    assert shared.value is not None
    assert shared.value[0]["00289110"]["Value"][0]["00280030"]["Value"] == [0.5, 0.5]


def test_probe_results_encode_as_json(by_name: dict[str, Entry]) -> None:
    import msgspec  # noqa: PLC0415

    info = probe(file_ranged(by_name["mp4-moov-end"].path), "video")
    decoded = msgspec.json.decode(msgspec.json.encode(info))
    assert decoded["kind"] == "video"
    assert decoded["frame_count"] == 50
    assert "num_pages" not in decoded
