"""MPEG program streams (``.mpg``, ``.vob``): MPEG-1/2 video from the first and last blocks.

A program stream is packs (``00 00 01 BA``) of PES packets. The first block holds
the video's sequence header (size, frame rate) and its first timestamps; the last
block its last. The duration is the span of the pictures' display times plus one
frame: a PES timestamp belongs to the first picture starting in the packet (a packet
may hold several), and the pictures after it are placed by their ``temporal_reference``
within the GOP. MPEG-1 and
MPEG-2 PES headers differ (MPEG-1 has stuffing and a buffer size before the PTS);
both are read. The codec is ``mpeg2video`` when a sequence extension follows the
sequence header, else ``mpeg1video``.
"""

from __future__ import annotations

from accessio.probe import h264
from accessio.probe.errors import ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

MIME = "video/mpeg"
PACK_START = b"\x00\x00\x01\xba"
CLOCK = 90000
_PTS_WRAP = 1 << 33
_SEQUENCE_EXTENSION = b"\x00\x00\x01\xb5"
_PICTURE, _GOP = 0x00, 0xB8
_SKIPPED_STREAMS = frozenset({0xBB, 0xBC, 0xBD, 0xBE, 0xBF, *range(0xC0, 0xE0)})  # system, private, padding, audio


def is_program_stream(head: bytes) -> bool:
    """A pack header: MPEG-2's (marker bits 01) or MPEG-1's (0010)."""
    return head[:4] == PACK_START and len(head) > 4 and (head[4] >> 6 == 1 or head[4] >> 4 == 2)


def probe_ps(src: Source) -> MediaInfo:
    """Size, frame rate, duration, frame count and codec of the first video stream of a program stream."""
    head = src.head()
    header = h264.parse_mpeg2_sequence(head)
    if header is None or not header.fps:
        raise ProbeUnsupported("MPEG-PS: no MPEG-1/2 video sequence header with a frame rate in the first block")
    seq = head.find(b"\x00\x00\x01\xb3")
    ext = head.find(_SEQUENCE_EXTENSION, seq)
    codec = "mpeg2video" if 0 <= ext < seq + 200 and head[ext + 4] >> 4 == 1 else "mpeg1video"
    fps = header.fps
    ticks = CLOCK / fps
    first = _display_times(head, ticks)
    tail_start = max(0, src.size - len(head))
    last = _display_times(src.read(tail_start, src.size - tail_start), ticks)
    if not first or not last:
        raise src.corrupt("MPEG-PS: no timestamped video picture at the start or the end")
    start = min(first)
    end = max(p if p >= start else p + _PTS_WRAP for p in last)
    duration = (end - start) / CLOCK + 1 / fps
    if header.width * header.height > src.limits.max_pixels:
        raise src.too_large(f"MPEG-PS: the video declares {header.width:,} x {header.height:,} pixels")
    return MediaInfo(
        kind=Kind.VIDEO, mime_type=MIME, file_size=src.size, width=header.width or None,
        height=header.height or None, fps=fps, duration=duration, frame_count=round(duration * fps),
        codec=codec, rotation=0,
    )  # fmt: skip


def _display_times(data: bytes, ticks: float) -> list[float]:
    """The display times (90 kHz) of the video pictures in the bytes, anchored on the PES timestamps.

    A video PES header's PTS belongs to the first picture starting in it (a packet may
    hold several pictures, only the first timestamped). Every picture gets a display
    index: its GOP's first index plus its ``temporal_reference`` (B-frames come before
    their anchor in display order), a GOP spanning as many indexes as it has pictures.
    Indexes become times through the nearest timestamped picture before them (the
    first one for those before it). Other streams' packets are stepped over by their
    length, so their bytes are never taken for start codes.
    """
    pictures: list[tuple[int, tuple[int, int] | None]] = []  # (display index, anchor (pts, index))
    pending: int | None = None
    anchor: tuple[int, int] | None = None
    base, gop_count, gop_last = 0, 0, -1
    at = data.find(b"\x00\x00\x01")
    while 0 <= at <= len(data) - 6:
        code = data[at + 3]
        step = 4
        if 0xE0 <= code <= 0xEF and at + 19 <= len(data):
            pts = _pes_pts(data, at + 6)
            pending = pts if pts is not None else pending
        elif code in _SKIPPED_STREAMS:
            step = 6 + int.from_bytes(data[at + 4 : at + 6], "big")
        elif code == _GOP:
            base += max(gop_count, gop_last + 1)
            gop_count, gop_last = 0, -1
        elif code == _PICTURE:
            reference = (data[at + 4] << 2) | (data[at + 5] >> 6)
            index = base + reference
            gop_count, gop_last = gop_count + 1, max(gop_last, reference)
            if pending is not None:
                anchor, pending = (pending, index), None
            pictures.append((index, anchor))
        at = data.find(b"\x00\x00\x01", at + step)
    first = next((found for _, found in pictures if found is not None), None)
    if first is None:
        return []
    return [(found or first)[0] + (index - (found or first)[1]) * ticks for index, found in pictures]


def _pes_pts(data: bytes, at: int) -> int | None:
    if data[at] >> 6 == 2:  # MPEG-2 PES header: flags, header length, then the PTS
        return _timestamp(data[at + 3 : at + 8]) if data[at + 1] & 0x80 else None
    for _ in range(16):  # MPEG-1: stuffing bytes
        if data[at] != 0xFF:
            break
        at += 1
    if data[at] >> 6 == 1:  # STD buffer size
        at += 2
    return _timestamp(data[at : at + 5]) if data[at] >> 4 in (2, 3) else None


def _timestamp(raw: bytes) -> int | None:
    if len(raw) < 5 or not raw[0] & 1 or not raw[2] & 1 or not raw[4] & 1:
        return None
    return ((raw[0] >> 1) & 7) << 30 | raw[1] << 22 | (raw[2] >> 1) << 15 | raw[3] << 7 | raw[4] >> 1
