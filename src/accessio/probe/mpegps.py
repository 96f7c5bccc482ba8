"""MPEG program streams (``.mpg``, ``.vob``): MPEG-1/2 video from the first and last blocks.

A program stream is packs (``00 00 01 BA``) of PES packets. The first block holds
the video's sequence header (size, frame rate) and its first timestamps; the last
block its last. The duration is the span of the video PTS plus one frame. MPEG-1 and
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


def is_program_stream(head: bytes) -> bool:
    """A pack header: MPEG-2's (marker bits 01) or MPEG-1's (0010)."""
    return head[:4] == PACK_START and len(head) > 4 and (head[4] >> 6 == 1 or head[4] >> 4 == 2)


def probe_ps(src: Source) -> MediaInfo:
    """Size, frame rate, duration, frame count and codec of the first video stream of a program stream."""
    head = src.head()
    header = h264.parse_mpeg2_sequence(head)
    if header is None:
        raise ProbeUnsupported("MPEG-PS: no MPEG-1/2 video sequence header in the first block")
    seq = head.find(b"\x00\x00\x01\xb3")
    ext = head.find(_SEQUENCE_EXTENSION, seq)
    codec = "mpeg2video" if 0 <= ext < seq + 200 and head[ext + 4] >> 4 == 1 else "mpeg1video"
    first = _video_pts(head)
    tail_start = max(0, src.size - len(head))
    last = _video_pts(src.read(tail_start, src.size - tail_start))
    if not first or not last or header.fps is None:
        raise src.corrupt("MPEG-PS: no timestamped video packet at the start or the end")
    start = min(first)
    end = max(p if p >= start else p + _PTS_WRAP for p in last)
    duration = (end - start) / CLOCK + 1 / header.fps
    if header.width * header.height > src.limits.max_pixels:
        raise src.too_large(f"MPEG-PS: the video declares {header.width:,} x {header.height:,} pixels")
    return MediaInfo(
        kind=Kind.VIDEO, mime_type=MIME, file_size=src.size, width=header.width or None,
        height=header.height or None, fps=header.fps, duration=duration, frame_count=round(duration * header.fps),
        codec=codec, rotation=0,
    )  # fmt: skip


def _video_pts(data: bytes) -> list[int]:
    """The PTS of every video PES packet (stream ids E0 to EF) whose header lies in the bytes."""
    found: list[int] = []
    at = data.find(b"\x00\x00\x01")
    while 0 <= at <= len(data) - 19:
        stream_id = data[at + 3]
        if 0xE0 <= stream_id <= 0xEF:
            pts = _pes_pts(data, at + 6)
            if pts is not None:
                found.append(pts)
        at = data.find(b"\x00\x00\x01", at + 3)
    return found


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
