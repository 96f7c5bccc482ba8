"""Matroska and WebM: tracks and duration from the EBML elements before the first Cluster.

EBML is nested (id, size, body) elements; ids and sizes are variable-length integers,
and a size of all ones means "unknown" (live streams, and hostile files that never
end). The walk reads the Segment's children in order until it has ``Info`` (timestamp
scale, duration) and ``Tracks``; when a ``Cluster`` comes first it follows the
``SeekHead``'s positions instead, and never walks clusters. Every element read is
bounded in size (``MAX_ELEMENT_BYTES``), count and depth.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from accessio.probe.errors import ProbeCorrupt, ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

EBML, SEGMENT, SEEK_HEAD, INFO, TRACKS, CLUSTER = 0x1A45DFA3, 0x18538067, 0x114D9B74, 0x1549A966, 0x1654AE6B, 0x1F43B675
SEEK, SEEK_ID, SEEK_POSITION = 0x4DBB, 0x53AB, 0x53AC
DOC_TYPE, TIMESTAMP_SCALE, DURATION = 0x4282, 0x2AD7B1, 0x4489
TRACK_ENTRY, TRACK_TYPE, CODEC_ID, DEFAULT_DURATION = 0xAE, 0x83, 0x86, 0x23E383
VIDEO, PIXEL_WIDTH, PIXEL_HEIGHT = 0xE0, 0xB0, 0xBA
AUDIO, SAMPLING_FREQUENCY, CHANNELS, BIT_DEPTH = 0xE1, 0xB5, 0x9F, 0x6264
MAX_ELEMENT_BYTES = 4 * 1024 * 1024
MAX_ELEMENTS = 4096
UNKNOWN = -1

_CODECS = {
    "V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "hevc", "V_VP8": "vp8", "V_VP9": "vp9", "V_AV1": "av1",
    "V_MPEG4/ISO/SP": "mpeg4", "V_MPEG4/ISO/ASP": "mpeg4", "V_MPEG2": "mpeg2video", "V_MJPEG": "mjpeg",
    "V_THEORA": "theora", "V_PRORES": "prores", "A_OPUS": "opus", "A_VORBIS": "vorbis", "A_AAC": "aac",
    "A_MPEG/L3": "mp3", "A_FLAC": "flac", "A_AC3": "ac3", "A_EAC3": "eac3", "A_PCM/INT/LIT": "pcm",
}  # fmt: skip


@dataclass
class _Track:
    type: int = 0
    codec: str | None = None
    default_duration_ns: int = 0
    width: int = 0
    height: int = 0
    sample_rate: float = 0.0
    channels: int = 0
    bit_depth: int = 0


@dataclass
class _Segment:
    scale: int = 1_000_000
    duration: float = 0.0
    info: bool = False
    tracks: list[_Track] = field(default_factory=list)
    have_tracks: bool = False
    seeks: dict[int, int] = field(default_factory=dict)


def probe_matroska(src: Source) -> MediaInfo:
    """Video (or, for an audio-only file, audio) metadata of a Matroska or WebM file."""
    ebml_id, ebml_size, pos = _element_header(src, 0)
    if ebml_id != EBML or ebml_size == UNKNOWN:
        raise src.corrupt("Matroska: no EBML header")
    header = dict(_children(src, _read_body(src, pos, ebml_size)))
    doc_type = header.get(DOC_TYPE, b"matroska").rstrip(b"\0").decode("ascii", "replace")
    pos += ebml_size
    seg_id, seg_size, seg_body = _element_header(src, pos)
    if seg_id != SEGMENT:
        raise src.corrupt("Matroska: no Segment after the EBML header")
    segment = _Segment()
    seg_end = src.size if seg_size == UNKNOWN else min(src.size, seg_body + seg_size)
    _walk_segment(src, segment, seg_body, seg_end)
    if not segment.have_tracks:
        for target in (INFO, TRACKS):
            if target in segment.seeks and not (segment.info if target == INFO else segment.have_tracks):
                _read_top(src, segment, seg_body + segment.seeks[target])
    if not segment.have_tracks:
        raise src.corrupt("Matroska: no Tracks before the first Cluster, and no SeekHead pointing to them")
    return _info(src, doc_type, segment)


def _walk_segment(src: Source, segment: _Segment, pos: int, end: int) -> None:
    for _ in range(MAX_ELEMENTS):
        if pos >= end or (segment.info and segment.have_tracks):
            return
        src.check_time()
        element, size, body = _element_header(src, pos)
        if element == CLUSTER:
            return
        if size == UNKNOWN:
            raise src.corrupt(f"Matroska: element {element:#x} of unknown size before the first Cluster")
        if element in (SEEK_HEAD, INFO, TRACKS):
            _top(src, segment, element, _read_body(src, body, size))
        pos = body + size
    raise src.corrupt(f"Matroska: more than {MAX_ELEMENTS} elements before the first Cluster")


def _read_top(src: Source, segment: _Segment, pos: int) -> None:
    element, size, body = _element_header(src, pos)
    if size == UNKNOWN or element not in (INFO, TRACKS):
        raise src.corrupt(f"Matroska: the SeekHead points to byte {pos}, where no Info or Tracks is")
    _top(src, segment, element, _read_body(src, body, size))


def _top(src: Source, segment: _Segment, element: int, body: bytes) -> None:
    if element == SEEK_HEAD:
        for seek_element, seek in _children(src, body):
            if seek_element == SEEK:
                fields = dict(_children(src, seek))
                if SEEK_ID in fields and SEEK_POSITION in fields:
                    segment.seeks[_uint(fields[SEEK_ID])] = _uint(fields[SEEK_POSITION])
    elif element == INFO:
        segment.info = True
        for child, value in _children(src, body):
            if child == TIMESTAMP_SCALE:
                segment.scale = _uint(value) or 1_000_000
            elif child == DURATION:
                segment.duration = _float(value)
    elif element == TRACKS:
        segment.have_tracks = True
        segment.tracks = [_track(src, value) for child, value in _children(src, body) if child == TRACK_ENTRY]


def _track(src: Source, body: bytes) -> _Track:
    track = _Track()
    for element, value in _children(src, body):
        if element == TRACK_TYPE:
            track.type = _uint(value)
        elif element == CODEC_ID:
            name = value.rstrip(b"\0").decode("ascii", "replace")
            track.codec = _CODECS.get(name, _CODECS.get(name.split("/")[0], name.lower()))
        elif element == DEFAULT_DURATION:
            track.default_duration_ns = _uint(value)
        elif element == VIDEO:
            for child, field_value in _children(src, value):
                if child == PIXEL_WIDTH:
                    track.width = _uint(field_value)
                elif child == PIXEL_HEIGHT:
                    track.height = _uint(field_value)
        elif element == AUDIO:
            for child, field_value in _children(src, value):
                if child == SAMPLING_FREQUENCY:
                    track.sample_rate = _float(field_value)
                elif child == CHANNELS:
                    track.channels = _uint(field_value)
                elif child == BIT_DEPTH:
                    track.bit_depth = _uint(field_value)
    return track


def _info(src: Source, doc_type: str, segment: _Segment) -> MediaInfo:
    duration = segment.duration * segment.scale / 1e9 if segment.duration > 0 else None
    video = next((t for t in segment.tracks if t.type == 1), None)
    audio = next((t for t in segment.tracks if t.type == 2), None)
    family = "webm" if doc_type == "webm" else "x-matroska"
    if video is not None:
        if video.width * video.height > src.limits.max_pixels:
            raise src.too_large(f"Matroska: the video declares {video.width:,} x {video.height:,} pixels")
        fps = 1e9 / video.default_duration_ns if video.default_duration_ns else None
        frames = round(duration * fps) if duration and fps else None
        return MediaInfo(
            kind=Kind.VIDEO, mime_type=f"video/{family}", file_size=src.size, width=video.width or None,
            height=video.height or None, fps=fps, duration=duration, frame_count=frames, codec=video.codec, rotation=0,
        )  # fmt: skip
    if audio is not None:
        lossless = audio.codec in ("flac", "pcm")
        return MediaInfo(
            kind=Kind.AUDIO, mime_type=f"audio/{family}", file_size=src.size, duration=duration, codec=audio.codec,
            sample_rate=round(audio.sample_rate) or None, num_channels=audio.channels or None,
            bit_depth=(audio.bit_depth or None) if lossless else None,
        )  # fmt: skip
    raise ProbeUnsupported(f"video/{family}: no video or audio track")


def _element_header(src: Source, pos: int) -> tuple[int, int, int]:
    """(id, size or UNKNOWN, body offset) of the element at ``pos``."""
    raw = src.read(pos, 12)
    element, used = _vint(raw, 0, keep_marker=True)
    size, size_len = _vint(raw, used, keep_marker=False)
    return element, size, pos + used + size_len


def _read_body(src: Source, pos: int, size: int) -> bytes:
    if size > MAX_ELEMENT_BYTES:
        raise src.too_large(f"Matroska: an element of {size:,} bytes in the header")
    return src.exact(pos, size, "a Matroska element")


def _children(src: Source, body: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    for _ in range(MAX_ELEMENTS):
        if pos >= len(body):
            return
        element, used = _vint(body, pos, keep_marker=True)
        size, size_len = _vint(body, pos + used, keep_marker=False)
        start = pos + used + size_len
        if size == UNKNOWN or start + size > len(body):
            raise ProbeCorrupt(f"Matroska: element {element:#x} overruns its parent")
        yield element, body[start : start + size]
        pos = start + size
    raise src.corrupt(f"Matroska: more than {MAX_ELEMENTS} elements in one parent")


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    if pos >= len(data):
        raise ProbeCorrupt("Matroska: an element is cut off (truncated file)")
    first = data[pos]
    if first == 0:
        raise ProbeCorrupt("Matroska: an element id or size longer than 8 bytes")
    length = 9 - first.bit_length()
    if pos + length > len(data):
        raise ProbeCorrupt("Matroska: an element is cut off (truncated file)")
    value = int.from_bytes(data[pos : pos + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (UNKNOWN if value == (1 << (7 * length)) - 1 else value), length


def _uint(value: bytes) -> int:
    return int.from_bytes(value[:8], "big")


def _float(value: bytes) -> float:
    if len(value) not in (4, 8):
        return 0.0
    number = float(struct.unpack(">f" if len(value) == 4 else ">d", value)[0])
    return number if math.isfinite(number) and number > 0 else 0.0
