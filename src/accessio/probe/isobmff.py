"""ISO base media file format boxes (MP4, MOV, M4A, HEIF/AVIF): walking them with bounds.

A box is ``size`` (32 bits; 1 means a 64-bit size follows, 0 means "to the end"),
a four-letter type, then its body. Top-level boxes are walked through the
:class:`~accessio.probe.source.Source`, reading only each header, so an ``mdat`` of
gigabytes costs nothing to step over; the index boxes (``moov``, ``meta``) are then
read whole and walked in memory. Every walk is bounded in box count and depth, and a
box claiming more bytes than its parent holds is corrupt, never trusted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from accessio.probe.errors import ProbeCorrupt
from accessio.probe.source import Source

MAX_TOP_LEVEL_BOXES = 4096
MAX_CHILD_BOXES = 100_000
MAX_DEPTH = 12


@dataclass(frozen=True)
class Box:
    """One box: where its header starts, the header's length and the whole box's size."""

    type: bytes
    start: int
    header: int
    size: int

    @property
    def body(self) -> int:
        return self.start + self.header

    @property
    def end(self) -> int:
        return self.start + self.size


def top_level(src: Source) -> Iterator[Box]:
    """The file's top-level boxes in order; stops at the end of the file or at a box that runs past it."""
    pos = 0
    for _ in range(MAX_TOP_LEVEL_BOXES):
        if pos + 8 > src.size:
            return
        src.check_time()
        header = src.read(pos, 16)
        box = _parse_header(header, 0, len(header), src.size - pos)
        if box is None:
            raise src.corrupt(f"a box header at byte {pos} is malformed")
        box = Box(box.type, pos, box.header, box.size)
        yield box
        pos = box.end
    raise src.corrupt(f"more than {MAX_TOP_LEVEL_BOXES} top-level boxes")


def children(data: bytes, start: int, end: int, *, depth: int = 0) -> Iterator[Box]:
    """The boxes laid end to end in ``data[start:end]``; a child overrunning its parent is corrupt."""
    if depth > MAX_DEPTH:
        raise ProbeCorrupt(f"boxes nested more than {MAX_DEPTH} deep")
    pos = start
    for _ in range(MAX_CHILD_BOXES):
        if pos + 8 > end:
            return
        box = _parse_header(data, pos, end, end - pos)
        if box is None:
            raise ProbeCorrupt(f"a box header at index byte {pos} is malformed")
        if box.end > end:
            raise ProbeCorrupt(f"box {box.type!r} claims {box.size:,} bytes, more than its parent holds")
        yield box
        pos = box.end
    raise ProbeCorrupt(f"more than {MAX_CHILD_BOXES} boxes in one parent")


def child(data: bytes, parent: Box, kind: bytes, *, depth: int = 0, skip: int = 0) -> Box | None:
    """The first child of ``parent`` of type ``kind`` (``skip`` bytes of the body come before the children)."""
    for box in children(data, parent.body + skip, parent.end, depth=depth):
        if box.type == kind:
            return box
    return None


def path(data: bytes, parent: Box, *kinds: bytes) -> Box | None:
    """The box reached by following ``kinds`` down from ``parent`` (first match at each level)."""
    found: Box | None = parent
    for depth, kind in enumerate(kinds):
        if found is None:
            return None
        found = child(data, found, kind, depth=depth)
    return found


def full_box(data: bytes, box: Box) -> tuple[int, int]:
    """A full box's version and flags."""
    word = u32(data, box.body)
    return word >> 24, word & 0xFFFFFF


def u8(data: bytes, at: int) -> int:
    return data[at]


def u16(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">H", data, at)[0])


def u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", data, at)[0])


def u64(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">Q", data, at)[0])


def _parse_header(data: bytes, pos: int, end: int, room: int) -> Box | None:
    if pos + 8 > end:
        return None
    size, kind = struct.unpack_from(">I4s", data, pos)
    header = 8
    if size == 1:
        if pos + 16 > end:
            return None
        size, header = u64(data, pos + 8), 16
    elif size == 0:
        size = room
    if size < header:
        return None
    return Box(kind, pos, header, size)
