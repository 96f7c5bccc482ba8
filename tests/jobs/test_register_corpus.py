"""The whole media corpus registered through jobs: every probed value is the corpus's
ground truth, and every broken or hostile file fails its own unit with its error code."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from tests.media import Entry, build_corpus

from accessio.jobs.reads import ACTIONS
from accessio.service import Accessio
from accessio.spec import Audio, DicomSeries, Image, Nifti, Pdf, PlainText, UploadSpec, Video
from accessio.spec.convert import REQUIRED_DICOM_TAGS

# corpus kind -> (unit type, the spec's list of such units)
_UNIT: dict[str, tuple[Any, str]] = {
    "image": (Image, "images"), "video": (Video, "videos"), "audio": (Audio, "audio"),
    "pdf": (Pdf, "pdf"), "text": (PlainText, "text"), "nifti": (Nifti, "nifti"),
}  # fmt: skip
# ground-truth names (MediaInfo) -> item JSON names (SPEC section 8)
_JSON_NAME = {
    "mime_type": "mimeType", "frame_count": "frameCount", "sample_rate": "sampleRate",
    "num_channels": "numChannels", "bit_depth": "bitDepth", "num_pages": "numPages",
    "dicom_study_uid": "dicomStudyUid", "dicom_series_uid": "dicomSeriesUid",
    "dicom_instance_uid": "dicomInstanceUid", "voxel_size": "voxelSize",
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Entry]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def app(catalog_url: str, corpus: list[Entry]) -> Iterator[Accessio]:
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("corpus", "local", root=str(corpus[0].path.parent))
        accessio.create_folder("corpus")
        yield accessio


def _spec(entries: list[Entry]) -> UploadSpec:
    spec = UploadSpec()
    for entry in entries:
        url = entry.path.as_uri()
        if entry.kind == "dicom":
            spec.dicom_series.append(DicomSeries(urls=(url,), title=entry.name))
        else:
            unit, units = _UNIT[entry.kind]
            getattr(spec, units).append(unit(object_url=url))
    return spec


def _matches(truth: Any, found: Any) -> bool:
    if isinstance(truth, float) and found is not None:
        return math.isclose(found, truth, rel_tol=0.01)
    if isinstance(truth, tuple):
        return list(truth) == pytest.approx(found)
    return bool(truth == found)


def test_every_probed_value_is_the_ground_truth(app: Accessio, corpus: list[Entry]) -> None:
    valid = [entry for entry in corpus if entry.group == "valid"]
    job = app.register(_spec(valid), folder="corpus", integration="corpus")
    assert job.to_json()["unitErrors"] == []
    items = {item["url"] or item["name"]: item for item in app.items("corpus", limit=1000)}
    assert len(items) == len(valid)
    for entry in valid:
        item = items[entry.name] if entry.kind == "dicom" else items[entry.path.as_uri()]
        if entry.kind == "dicom":
            series = app.item(item["uuid"])
            assert series["itemType"] == "dicomSeries"
            assert (series["modality"], series["dicomStudyUid"]) == (
                entry.truth["modality"],
                entry.truth["dicom_study_uid"],
            )
            item = series["children"][0]
            assert item["itemType"] == "dicomFile"
            assert set(item["dicomTags"]) == set(REQUIRED_DICOM_TAGS)
        for name, truth in entry.truth.items():
            found = item[_JSON_NAME.get(name, name)]
            assert _matches(truth, found), (entry.name, name, truth, found)


def test_every_broken_and_hostile_file_fails_its_own_unit(app: Accessio, corpus: list[Entry]) -> None:
    bad = [entry for entry in corpus if entry.group != "valid" and entry.error is not None]
    job = app.register(_spec(bad), folder="corpus", integration="corpus", ignore_errors=True)
    shown = job.to_json()
    assert shown["counts"]["error"] == len(bad)
    assert shown["counts"]["created"] == 0
    errors = {error["objectUrls"][0]: error for error in shown["unitErrors"]}
    for entry in bad:
        error = errors[entry.path.as_uri()]
        assert error["error"], entry.name
        assert error["actionDescription"] == ACTIONS[entry.error], (entry.name, error)
    # the failure report names each code's action: one row per failed file
    assert len(job.failures_csv().splitlines()) == len(bad) + 1
