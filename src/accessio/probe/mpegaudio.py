"""MP3 and ADTS AAC: frame headers after any ID3v2 tag, duration from the VBR header or the bitrate.

Neither format has a container index. MP3 encoders (LAME, ffmpeg) write a Xing/Info
or VBRI header in the first frame with the frame count, and LAME's extension adds
the encoder delay and padding, which make the duration exact; without one the file
is taken as constant bitrate. A VBR header counting 0 frames (never filled in) is no
duration: in a file within the first block the frames are counted, a larger one is
``probe.unsupported`` (its bitrate varies). ADTS frames carry their own lengths: the
frames of the first block give the mean frame size, and the file size the frame count
(exact when the whole file is in the first block, an estimate otherwise; the docs say so).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from accessio.probe.errors import ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

_MPEG1, _MPEG2, _MPEG25 = 3, 2, 0
_BITRATES = {
    (_MPEG1, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (_MPEG1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (_MPEG1, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (_MPEG2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (_MPEG2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {_MPEG1: (44100, 48000, 32000), _MPEG2: (22050, 24000, 16000), _MPEG25: (11025, 12000, 8000)}
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
_LAYER_NAMES = {3: "mp1", 2: "mp2", 1: "mp3"}
MAX_ADTS_FRAMES = 4096


@dataclass(frozen=True)
class MpegFrame:
    """One MPEG audio frame header."""

    version: int
    layer: int
    bitrate: int
    sample_rate: int
    channels: int
    length: int
    samples: int


def id3v2_end(src: Source, pos: int = 0) -> int:
    """Where the audio starts: past every ID3v2 tag at ``pos`` (tags may be stacked)."""
    for _ in range(8):
        header = src.read(pos, 10)
        if len(header) < 10 or header[:3] != b"ID3":
            return pos
        size = (header[6] & 0x7F) << 21 | (header[7] & 0x7F) << 14 | (header[8] & 0x7F) << 7 | (header[9] & 0x7F)
        pos += 10 + size + (10 if header[5] & 0x10 else 0)
    return pos


def mpeg_frame(header: bytes) -> MpegFrame | None:
    """The MPEG audio frame header in the 4 bytes, or None when they are not one."""
    if len(header) < 4:
        return None
    word = int.from_bytes(header[:4], "big")
    if (word >> 21) & 0x7FF != 0x7FF:
        return None
    version, layer = (word >> 19) & 3, (word >> 17) & 3
    rate_index, bitrate_index = (word >> 10) & 3, (word >> 12) & 0xF
    if version == 1 or layer == 0 or rate_index == 3 or bitrate_index in (0, 15):
        return None
    table = _BITRATES[(_MPEG1, layer)] if version == _MPEG1 else _BITRATES[(_MPEG2, 3 if layer == 3 else 2)]
    bitrate, sample_rate = table[bitrate_index] * 1000, _RATES[version][rate_index]
    padding = (word >> 9) & 1
    channels = 1 if (word >> 6) & 3 == 3 else 2
    if layer == 3:
        samples, length = 384, (12 * bitrate // sample_rate + padding) * 4
    elif layer == 2 or version == _MPEG1:
        samples, length = 1152, 144 * bitrate // sample_rate + padding
    else:
        samples, length = 576, 72 * bitrate // sample_rate + padding
    return MpegFrame(version, layer, bitrate, sample_rate, channels, length, samples)


def adts_frame(header: bytes) -> tuple[int, int, int, int] | None:
    """(sample rate, channels, frame length, samples) of an ADTS header, or None when it is not one."""
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:
        return None
    rate_index, channels = (header[2] >> 2) & 0xF, ((header[2] & 1) << 2) | (header[3] >> 6)
    length = ((header[3] & 3) << 11) | (header[4] << 3) | (header[5] >> 5)
    if rate_index >= len(_AAC_RATES) or length < 7:
        return None
    return _AAC_RATES[rate_index], channels, length, 1024 * ((header[6] & 3) + 1)


MAX_JUNK = 4096


def junk_before_frames(src: Source) -> int | None:
    """Where MPEG audio frames start after junk at the front (two frame headers in a row), if within 4 KiB.

    FFmpeg and players skip such junk; it is looked for only in a file declared audio.
    """
    head = src.head()[:MAX_JUNK + 4]
    at = head.find(b"\xff")
    while 0 <= at < MAX_JUNK:
        frame = mpeg_frame(head[at : at + 4])
        if frame is not None and frame.length > 0 and mpeg_frame(src.read(at + frame.length, 4)) is not None:
            return at
        at = head.find(b"\xff", at + 1)
    return None


def probe_mp3(src: Source, start: int | None = None) -> MediaInfo:
    """Duration, sample rate, channels and codec of an MPEG audio (MP3) file (its frames from ``start``)."""
    start = id3v2_end(src) if start is None else start
    frame = mpeg_frame(src.read(start, 4))
    if frame is None:
        raise src.corrupt(f"MP3: no frame header at byte {start}")
    first = src.read(start, min(frame.length, 4096))
    side = (32 if frame.channels == 2 else 17) if frame.version == _MPEG1 else (17 if frame.channels == 2 else 9)
    duration: float | None = None
    xing = 4 + side
    if first[xing : xing + 4] in (b"Xing", b"Info"):
        duration = _xing_duration(first, xing, frame)
    elif first[36:40] == b"VBRI" and len(first) >= 36 + 18:
        frames = struct.unpack_from(">I", first, 36 + 14)[0]
        duration = frames * frame.samples / frame.sample_rate if frames else None
    if duration is None:
        vbr_header = first[xing : xing + 4] in (b"Xing", b"Info")
        duration = _constant_bitrate_duration(src, start, frame, vbr_header=vbr_header)
    return MediaInfo(
        kind=Kind.AUDIO, mime_type="audio/mpeg", file_size=src.size, duration=duration,
        codec=_LAYER_NAMES[frame.layer], sample_rate=frame.sample_rate, num_channels=frame.channels,
    )  # fmt: skip


def _constant_bitrate_duration(src: Source, start: int, frame: MpegFrame, *, vbr_header: bool) -> float:
    """The audio bytes over the bitrate; with an empty VBR header, the frames counted (the bitrate varies)."""
    if not vbr_header:
        return (src.size - start) * 8 / frame.bitrate
    head = src.head()
    if len(head) < src.size:
        raise ProbeUnsupported(
            "MP3: the VBR (Xing/VBRI) header counts 0 frames and the bitrate varies: the duration would need every "
            "frame header of the file"
        )
    pos, samples = start + frame.length, 0
    while pos + 4 <= len(head):
        following = mpeg_frame(head[pos : pos + 4])
        if following is None or following.length <= 0:
            break
        samples += following.samples
        pos += following.length
    return samples / frame.sample_rate


def _xing_duration(first: bytes, at: int, frame: MpegFrame) -> float | None:
    flags = struct.unpack_from(">I", first, at + 4)[0] if len(first) >= at + 8 else 0
    if not flags & 1 or len(first) < at + 12:
        return None
    frames = struct.unpack_from(">I", first, at + 8)[0]
    if frames == 0:
        return None  # a Xing header whose encoder never filled it in: the bitrate estimate, as FFmpeg falls back
    pos = at + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    samples = frames * frame.samples
    # LAME's extension (also written by ffmpeg): 9-byte encoder name, ..., delay and padding at +21.
    if len(first) >= pos + 24:
        word = int.from_bytes(first[pos + 21 : pos + 24], "big")
        delay, padding = word >> 12, word & 0xFFF
        if delay + padding >= samples:
            raise ProbeUnsupported(
                f"MP3: the LAME header's encoder delay and padding ({delay + padding:,} samples) are not less than "
                f"the {samples:,} samples its Xing header counts"
            )
        samples -= delay + padding
    return float(samples / frame.sample_rate)


def probe_adts(src: Source) -> MediaInfo:
    """Duration (estimated past the first block), sample rate, channels of a raw AAC (ADTS) stream."""
    start = id3v2_end(src)
    pos, frames, total_samples = start, 0, 0
    rate = channels = 0
    head_end = max(len(src.head()), start + 7)
    while pos + 7 <= head_end and frames < MAX_ADTS_FRAMES:
        found = adts_frame(src.read(pos, 7))
        if found is None:
            break
        rate, channels, length, samples = found
        frames += 1
        total_samples += samples
        pos += length
    if frames == 0:
        raise src.corrupt(f"AAC: no ADTS frame at byte {start}")
    duration = total_samples / rate
    if pos < src.size:
        duration *= (src.size - start) / (pos - start)
    return MediaInfo(
        kind=Kind.AUDIO, mime_type="audio/aac", file_size=src.size, duration=duration, codec="aac",
        sample_rate=rate, num_channels=channels or None,
    )  # fmt: skip
