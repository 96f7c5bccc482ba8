"""A media corpus made at test time, with the ground truth of every file.

>>> entries = build_corpus(tmp_path)  # doctest: +SKIP
>>> [(e.name, e.kind, e.truth) for e in entries][:1]  # doctest: +SKIP
[('jpeg', 'image', {'mime_type': 'image/jpeg', 'width': 640, 'height': 480})]

Valid files are written by real encoders and writers (Pillow, PyAV, pydicom) or, for
the PDF variants and NIfTI, by hand from the format's specification, with the truth
taken from what was asked of the writer, never from a probe. ``broken`` files are cut
or damaged copies; ``hostile`` files are built to make a careless parser allocate,
loop or read without end. Both carry the error code a probe must fail with (``None``
for a hostile file whose right answer is a bounded success, like a gzip bomb whose
header is fine). ``scale="bench"`` makes bigger images and videos for the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Group = Literal["valid", "broken", "hostile"]


@dataclass(frozen=True)
class Entry:
    """One corpus file: what it is, and what a probe must say of it."""

    name: str
    path: Path
    kind: str
    truth: dict[str, Any] = field(default_factory=dict)
    group: Group = "valid"
    error: str | None = None


def build_corpus(root: Path, *, scale: Literal["test", "bench"] = "test") -> list[Entry]:
    """Write every corpus file under ``root`` and return the manifest."""
    from tests.media import audio, documents, hostile, images, medical, video  # noqa: PLC0415 - heavy imports

    root.mkdir(parents=True, exist_ok=True)
    entries: list[Entry] = []
    for module in (images, video, audio, documents, medical):
        entries += module.build(root, scale)
    entries += hostile.build(root, {e.name: e for e in entries})
    return entries
