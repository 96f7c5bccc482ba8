"""AIFF and AIFF-C audio: the ``COMM`` chunk gives channels, frames, sample size and rate.

An IFF ``FORM`` of big-endian chunks; ``COMM`` holds the frame count and an 80-bit
extended-precision sample rate, and in AIFF-C a compression type, from which the
codec is named as FFmpeg names it (``pcm_s16be``; ``sowt`` is little-endian PCM).
The sound data (``SSND``) must be in the file: a file cut inside it is truncated.
"""

from __future__ import annotations

import math
import struct

from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

MIME = "audio/aiff"
MAX_CHUNKS = 1024
_COMPRESSED = {
    b"alaw": "pcm_alaw", b"ALAW": "pcm_alaw", b"ulaw": "pcm_mulaw", b"ULAW": "pcm_mulaw", b"ima4": "adpcm_ima_qt",
    b"MAC3": "mace3", b"MAC6": "mace6", b"GSM ": "gsm", b"QDM2": "qdm2", b"QDMC": "qdmc",
}  # fmt: skip


def probe_aiff(src: Source) -> MediaInfo:
    """Duration, sample rate, bit depth, channels and codec of an AIFF or AIFF-C file."""
    aifc = src.read(8, 4) == b"AIFC"
    comm: bytes | None = None
    sound_end: int | None = None
    pos = 12
    for _ in range(MAX_CHUNKS):
        if pos + 8 > src.size:
            break
        src.check_time()
        kind, size = struct.unpack(">4sI", src.exact(pos, 8, "an AIFF chunk header"))
        if kind == b"COMM":
            comm = src.exact(pos + 8, min(size, 64), "the AIFF COMM chunk")
        elif kind == b"SSND":
            sound_end = pos + 8 + size
        if comm is not None and sound_end is not None:
            break
        pos += 8 + size + (size & 1)
    if comm is None or len(comm) < 18:
        raise src.corrupt("AIFF: no COMM chunk")
    channels, frames, bits = struct.unpack_from(">HIH", comm)
    rate = _extended(comm[8:18])
    if channels == 0 or not math.isfinite(rate) or rate < 1:
        raise src.corrupt(f"AIFF: {channels} channels at {rate} Hz")
    if frames and sound_end is not None and sound_end > src.size:
        raise src.corrupt(f"AIFF: the sound data runs to byte {sound_end:,}; the file ends at {src.size:,} (truncated)")
    compression = comm[18:22] if aifc and len(comm) >= 22 else b"NONE"
    codec, lossless = _codec(compression, bits)
    return MediaInfo(
        kind=Kind.AUDIO, mime_type=MIME, file_size=src.size, duration=frames / rate, codec=codec,
        sample_rate=round(rate), num_channels=channels, bit_depth=bits if lossless and bits else None,
    )  # fmt: skip


def _codec(compression: bytes, bits: int) -> tuple[str | None, bool]:
    """FFmpeg's codec name and whether it is PCM (whose bit depth is the sample size)."""
    if compression in (b"NONE", b"twos", b"sowt"):
        if not 0 < bits <= 32:
            return None, True
        width = (bits + 7) // 8 * 8
        order = "le" if compression == b"sowt" else "be"
        return ("pcm_s8" if width == 8 else f"pcm_s{width}{order}"), True
    if compression in (b"fl32", b"FL32"):
        return "pcm_f32be", True
    if compression in (b"fl64", b"FL64"):
        return "pcm_f64be", True
    return _COMPRESSED.get(compression), False


def _extended(raw: bytes) -> float:
    """An 80-bit IEEE 754 extended-precision number (sign, 15-bit exponent, 64-bit mantissa)."""
    exponent = int.from_bytes(raw[:2], "big")
    mantissa = int.from_bytes(raw[2:10], "big")
    sign = -1.0 if exponent & 0x8000 else 1.0
    exponent &= 0x7FFF
    if exponent == 0x7FFF:
        return math.nan
    if exponent == 0 and mantissa == 0:
        return 0.0
    return sign * math.ldexp(mantissa, exponent - 16383 - 63)
