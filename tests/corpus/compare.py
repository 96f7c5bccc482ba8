"""Probe each corpus file with Accessio, read it with the reference, and score the pair.

Outcomes, per file:

- ``agree``: the probe returned and every field the reference vouches for is within tolerance;
- ``refused``: the probe raised a ProbeError (``probe.unsupported`` and the like, with its reason);
- ``wrong``: the probe returned a value that disagrees with the reference (a silent wrong value);
- ``unread``: the reference cannot read the file, so nothing is judged but that the probe ends
  with a value or a ProbeError (never another exception, never past its time limit).

Where two trusted readers disagree (PyAV and mutagen on some MP3 and Ogg files), agreeing
with either counts. Tolerances: ``fps`` within 1 %; ``duration`` within 1 % or one frame
(a video frame, or 50 ms of audio, a little over one MP3 or AAC frame), and a video's
``frame_count`` within one; ``voxel_size`` within 1e-5 relative;
a PCM ``bit_depth`` may be the significant bits inside the reference's container width
(20 in 24); every other field exactly.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from accessio.probe import MediaInfo, ProbeError, probe
from tests.corpus.fetch import CorpusFile
from tests.corpus.reference import OneOf, reference

AUDIO_FRAME_S = 0.05
OUTCOMES = ("agree", "refused", "wrong", "unread")


@dataclass
class Result:
    file: CorpusFile
    outcome: str
    seconds: float
    detail: str = ""  # the error code and message, or the disagreeing fields
    crash: str | None = None  # an exception other than ProbeError escaped the probe


@dataclass
class Tally:
    """Counts per kind for the agreement table."""

    files: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def read(self) -> int:
        return self.files - self.outcomes["unread"]

    @property
    def agreement(self) -> float:
        return self.outcomes["agree"] / self.read if self.read else 1.0


def disagreements(kind: str, info: MediaInfo, ref: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields where the probe's value is outside the tolerance of the reference's: {field: (probe, reference)}."""
    wrong: dict[str, tuple[Any, Any]] = {}
    for key, expected in ref.items():
        got = info.dicom_tags if key == "dicom_tags" else getattr(info, key)
        if key == "dicom_tags":
            got = {tag: None if attr is None else attr.value for tag, attr in (got or {}).items()}
        if not _agrees(key, got, expected, kind, info, ref):
            wrong[key] = (got, expected)
    return wrong


def _agrees(key: str, got: Any, expected: Any, kind: str, info: MediaInfo, ref: dict[str, Any]) -> bool:
    if isinstance(expected, OneOf):
        return any(_agrees(key, got, value, kind, info, ref) for value in expected)
    if expected is None or got is None:
        return got is None and expected is None
    if key == "fps":
        return math.isclose(got, expected, rel_tol=0.01)
    if key == "duration":
        fps = info.fps or ref.get("fps")
        fps = min(fps) if isinstance(fps, OneOf) else fps
        frame = 1 / fps if kind == "video" and fps else AUDIO_FRAME_S
        return abs(got - expected) <= max(0.01 * expected, frame) + 1e-9
    if key == "frame_count" and kind == "video":
        return abs(got - expected) <= 1
    if key == "voxel_size":
        pairs = zip(got, expected, strict=False)
        return len(got) == len(expected) and all(math.isclose(a, b, rel_tol=1e-5) for a, b in pairs)
    if key == "bit_depth" and (info.codec or "").startswith("pcm_"):
        return bool(expected - 8 < got <= expected)
    return bool(got == expected)


def judge(file: CorpusFile) -> Result:
    """Probe the file as its kind and compare with the reference reader."""
    ref = reference(file.kind, file.path)
    started = time.perf_counter()
    info: MediaInfo | None = None
    error: ProbeError | None = None
    crash = None
    with warnings.catch_warnings():  # as in production: pydicom's conformance warnings are not errors
        warnings.simplefilter("ignore")
        try:
            with file.path.open("rb") as handle:
                info = probe(handle, file.kind, url=str(file.path))
        except ProbeError as exc:
            error = exc
        except Exception as exc:
            crash = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    if crash is not None:
        return Result(file, "unread" if ref is None else "refused", seconds, crash, crash=crash)
    if ref is None:
        return Result(file, "unread", seconds, f"{error.code}: {error}" if error else "")
    if error is not None:
        return Result(file, "refused", seconds, f"{error.code}: {error}")
    assert info is not None
    if info.file_size != file.path.stat().st_size:
        return Result(file, "wrong", seconds, f"file_size {info.file_size}")
    wrong = disagreements(file.kind, info, ref)
    if wrong:
        shown = {key: value for key, value in wrong.items() if key != "dicom_tags"} or {"dicom_tags": "differ"}
        return Result(file, "wrong", seconds, f"{shown}")
    return Result(file, "agree", seconds)


def tally(results: list[Result]) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for result in results:
        entry = tallies.setdefault(result.file.kind, Tally())
        entry.files += 1
        entry.outcomes[result.outcome] += 1
    return tallies


def judge_all(files: list[CorpusFile]) -> list[Result]:
    return [judge(file) for file in files]
