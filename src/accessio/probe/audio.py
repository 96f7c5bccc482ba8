"""FLAC and Ogg (Opus, Vorbis, FLAC, Speex): codec headers at the front, and for Ogg the last page.

FLAC's STREAMINFO block (right after ``fLaC``) holds the sample rate, channels, bit
depth and total samples: one read. Ogg has no total: the duration is the granule
position of the stream's last page, so a second read fetches the last block (an Ogg
page is at most 65,307 bytes, so the last page starts within it). A Skeleton stream
(an index of the others, first when present) is stepped over to the first audio stream.
"""

from __future__ import annotations

import struct

from accessio.probe.errors import ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.mpegaudio import id3v2_end
from accessio.probe.source import Source

MAX_METADATA_BLOCKS = 128
MAX_OGG_PAGE = 65307
MAX_BOS_PAGES = 16


def probe_flac(src: Source) -> MediaInfo:
    """Duration, sample rate, bit depth and channels of a FLAC file."""
    start = id3v2_end(src)
    if src.read(start, 4) != b"fLaC":
        raise src.corrupt("FLAC: no fLaC marker")
    block = src.exact(start + 4, 4 + 34, "the FLAC STREAMINFO block")
    if block[0] & 0x7F != 0:
        raise src.corrupt("FLAC: the first metadata block is not STREAMINFO")
    rate, channels, bits, samples = _streaminfo(block[4:])
    if rate == 0:
        raise src.corrupt("FLAC: STREAMINFO gives a sample rate of 0")
    return MediaInfo(
        kind=Kind.AUDIO, mime_type="audio/flac", file_size=src.size, duration=samples / rate if samples else None,
        codec="flac", sample_rate=rate, num_channels=channels, bit_depth=bits,
    )  # fmt: skip


def _streaminfo(info: bytes) -> tuple[int, int, int, int]:
    word = int.from_bytes(info[10:18], "big")
    rate = word >> 44
    channels = ((word >> 41) & 7) + 1
    bits = ((word >> 36) & 0x1F) + 1
    return rate, channels, bits, word & 0xFFFFFFFFF


def probe_ogg(src: Source) -> MediaInfo:
    """Duration, sample rate, channels and codec of an Ogg audio file (its first audio stream)."""
    head = src.head()
    if len(head) < 28 or head[:4] != b"OggS":
        raise src.corrupt("Ogg: no page at the start")
    serial, packet = _first_audio_stream(src, head)
    codec, rate, channels, bits, skip = _identify(src, packet)
    # The last block nearly always holds the last page; if not, the page starts at most a page before.
    granule = _last_granule(src.read(*_aligned_tail(src, 1)), serial)
    if granule is None:
        granule = _last_granule(src.read(*_aligned_tail(src, MAX_OGG_PAGE + 27 + 255)), serial)
    duration = max(0, granule - skip) / rate if granule is not None and rate else None
    return MediaInfo(
        kind=Kind.AUDIO, mime_type="audio/ogg", file_size=src.size, duration=duration, codec=codec,
        sample_rate=rate, num_channels=channels, bit_depth=bits,
    )  # fmt: skip


def _first_audio_stream(src: Source, head: bytes) -> tuple[int, bytes]:
    """(serial, first packet) of the first audio stream among the opening (BOS) pages; Theora: unsupported.

    Every stream of an Ogg file starts with a BOS page, all of them before any other
    page; a Skeleton stream (``fishead``), when present, comes first and only indexes
    the others.
    """
    pos, video = 0, False
    audio: tuple[int, bytes] | None = None
    for _ in range(MAX_BOS_PAGES):
        if head[pos : pos + 4] != b"OggS" or pos + 27 > len(head) or not head[pos + 5] & 0x02:
            break
        serial, segments = struct.unpack_from("<I", head, pos + 14)[0], head[pos + 26]
        body_at = pos + 27 + segments
        lacing = head[pos + 27 : body_at]
        packet = head[body_at : body_at + sum(lacing)]
        if packet.startswith((b"\x80theora", b"\x01video")):
            video = True
        elif audio is None and not packet.startswith((b"fishead\x00", b"fisbone\x00")):
            audio = serial, packet
        pos = body_at + sum(lacing)
    if video:
        raise ProbeUnsupported("Ogg video (Theora) is not probed")
    if audio is None:
        raise src.corrupt("Ogg: no audio stream among the opening pages")
    return audio


def _identify(src: Source, packet: bytes) -> tuple[str, int, int, int | None, int]:
    """(codec, sample rate, channels, bit depth, pre-skip samples) from a stream's first packet."""
    if packet.startswith(b"OpusHead") and len(packet) >= 19:
        channels, pre_skip = packet[9], struct.unpack_from("<H", packet, 10)[0]
        return "opus", 48000, channels, None, pre_skip  # Opus always decodes at 48 kHz
    if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
        channels, rate = packet[11], struct.unpack_from("<I", packet, 12)[0]
        return "vorbis", rate, channels, None, 0
    if packet.startswith(b"\x7fFLAC") and len(packet) >= 13 + 4 + 34:
        rate, channels, bits, _ = _streaminfo(packet[13 + 4 :])
        return "flac", rate, channels, bits, 0
    if packet.startswith(b"Speex   ") and len(packet) >= 52:
        rate, _mode, _mode_version, channels = struct.unpack_from("<4I", packet, 36)
        return "speex", rate, channels, None, 0
    if packet.startswith((b"\x80theora", b"\x01video")):
        raise ProbeUnsupported("Ogg video (Theora) is not probed")
    raise src.corrupt("Ogg: the first packet names no known codec")


def _aligned_tail(src: Source, at_least: int) -> tuple[int, int]:
    """(offset, count) of the last bytes, at least ``at_least``, starting on a block boundary."""
    block = src.limits.head_size
    start = max(0, (src.size - at_least) // block * block)
    return start, src.size - start


def _last_granule(tail: bytes, serial: int) -> int | None:
    pos = len(tail)
    for _ in range(4096):
        pos = tail.rfind(b"OggS", 0, pos)
        if pos < 0:
            return None
        if pos + 18 <= len(tail):
            granule, page_serial = struct.unpack_from("<qI", tail, pos + 6)
            if page_serial == serial and granule >= 0:
                return int(granule)
    return None
