"""MPEG transport streams: codec, size and frame rate from the first block, duration from the last.

A TS file is 188-byte packets (192 in M2TS, with a 4-byte timestamp before each). The
program tables (PAT, then PMT) name the video stream's packet id and codec; the first
video PES of the head carries the codec's sequence header (size, and usually the frame
rate), and its presentation timestamp (PTS, 90 kHz) starts the clock. The last block
of the file gives the last PTS: the duration is their difference plus one frame. Two
reads in all, whatever the file's length.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from accessio.probe import h264
from accessio.probe.errors import ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

CLOCK = 90_000
_VIDEO_TYPES = {0x01: "mpeg1video", 0x02: "mpeg2video", 0x10: "mpeg4", 0x1B: "h264", 0x24: "hevc", 0x33: "vvc"}
_MAX_CONFIG_BYTES = 65536
_PTS_WRAP = 1 << 33


@dataclass
class _Scan:
    pmt_pids: set[int] = field(default_factory=set)
    video_pid: int | None = None
    codec: str | None = None
    pts: list[int] = field(default_factory=list)
    config: bytearray = field(default_factory=bytearray)
    config_done: bool = False


def packet_layout(head: bytes) -> tuple[int, int] | None:
    """(packet size, offset of the first sync byte) when ``head`` looks like a transport stream."""
    for size, first in ((188, 0), (192, 4)):
        checks = [first + k * size for k in range(3)]
        usable = [at for at in checks if at < len(head)]
        if len(usable) >= 2 and all(head[at] == 0x47 for at in usable):
            return size, first
    return None


def probe_ts(src: Source) -> MediaInfo:
    """Video metadata of an MPEG transport stream."""
    head = src.head()
    layout = packet_layout(head)
    if layout is None:
        raise src.corrupt("MPEG-TS: no packet sync")
    size, first = layout
    scan = _Scan()
    _scan_packets(head, first, size, scan, collect_config=True)
    if scan.video_pid is None:
        raise ProbeUnsupported("MPEG-TS: no video stream in the first block's program tables")
    if not scan.pts:
        raise src.corrupt("MPEG-TS: no timestamped video packet in the first block")
    header = _stream_header(scan.codec, bytes(scan.config))
    first_pts = min(scan.pts)
    tail_start = max(0, (src.size - len(head)) // len(head) * len(head)) if head else 0
    tail = src.read(tail_start, src.size - tail_start)
    aligned = (first - tail_start) % size
    tail_scan = _Scan(pmt_pids=scan.pmt_pids, video_pid=scan.video_pid, codec=scan.codec, config_done=True)
    _scan_packets(tail, aligned, size, tail_scan, collect_config=False)
    last_pts = max((p if p >= first_pts else p + _PTS_WRAP) for p in tail_scan.pts or scan.pts)
    fps = (header.fps if header else None) or _fps_from_pts(scan.pts)
    span = (last_pts - first_pts) / CLOCK
    duration = span + 1 / fps if fps else span
    width, height = (header.width, header.height) if header else (0, 0)
    if width * height > src.limits.max_pixels:
        raise src.too_large(f"MPEG-TS: the video declares {width:,} x {height:,} pixels")
    return MediaInfo(
        kind=Kind.VIDEO, mime_type="video/mp2t", file_size=src.size, width=width or None, height=height or None,
        fps=fps, duration=duration or None, frame_count=round(duration * fps) if fps else None, codec=scan.codec,
        rotation=0,
    )  # fmt: skip


def _stream_header(codec: str | None, config: bytes) -> h264.StreamHeader | None:
    if codec == "h264":
        return h264.find_h264_sps(config)
    if codec in ("mpeg1video", "mpeg2video"):
        return h264.parse_mpeg2_sequence(config)
    return None


def _fps_from_pts(pts: list[int]) -> float | None:
    ordered = sorted(set(pts))
    steps = [b - a for a, b in itertools.pairwise(ordered) if b > a]
    return CLOCK / min(steps) if steps else None


def _scan_packets(data: bytes, first: int, size: int, scan: _Scan, *, collect_config: bool) -> None:
    for at in range(first, len(data) - 187, size):
        packet = data[at : at + 188]
        if packet[0] != 0x47:
            continue  # lost sync: skip rather than guess
        start = packet[1] & 0x40
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        control = (packet[3] >> 4) & 3
        payload_at = 4 + (1 + packet[4] if control & 2 else 0)
        if not control & 1 or payload_at >= 188:
            continue
        payload = packet[payload_at:]
        if pid == 0 and start:
            scan.pmt_pids.update(_pat(payload))
        elif pid in scan.pmt_pids and start and scan.video_pid is None:
            found = _pmt(payload)
            if found is not None:
                scan.video_pid, scan.codec = found
        elif pid == scan.video_pid:
            if start:
                body = _pes(payload, scan)
                if collect_config and not scan.config_done:
                    if scan.config:
                        scan.config_done = True
                    else:
                        scan.config += body
            elif collect_config and not scan.config_done and scan.config:
                scan.config += payload
                scan.config_done = len(scan.config) >= _MAX_CONFIG_BYTES


def _section(payload: bytes) -> bytes:
    pointer = payload[0]
    table = payload[1 + pointer :]
    if len(table) < 3:
        return b""
    length = ((table[1] & 0x0F) << 8) | table[2]
    return table[: 3 + length]


def _pat(payload: bytes) -> set[int]:
    table = _section(payload)
    pids: set[int] = set()
    for at in range(8, len(table) - 4 - 3, 4):
        program = (table[at] << 8) | table[at + 1]
        if program != 0:
            pids.add(((table[at + 2] & 0x1F) << 8) | table[at + 3])
    return pids


def _pmt(payload: bytes) -> tuple[int, str] | None:
    table = _section(payload)
    if len(table) < 12 or table[0] != 0x02:
        return None
    at = 12 + (((table[10] & 0x0F) << 8) | table[11])
    while at + 5 <= len(table) - 4:
        stream_type = table[at]
        pid = ((table[at + 1] & 0x1F) << 8) | table[at + 2]
        if stream_type in _VIDEO_TYPES:
            return pid, _VIDEO_TYPES[stream_type]
        at += 5 + (((table[at + 3] & 0x0F) << 8) | table[at + 4])
    return None


def _pes(payload: bytes, scan: _Scan) -> bytes:
    """Record the PES header's PTS; return the elementary stream bytes after the header."""
    if len(payload) < 9 or payload[:3] != b"\x00\x00\x01":
        return b""
    flags, header_length = payload[7], payload[8]
    if flags & 0x80 and len(payload) >= 14:
        raw = payload[9:14]
        pts = ((raw[0] >> 1) & 7) << 30 | raw[1] << 22 | (raw[2] >> 1) << 15 | raw[3] << 7 | raw[4] >> 1
        scan.pts.append(pts)
    return payload[9 + header_length :]
