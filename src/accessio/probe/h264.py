"""Elementary video stream headers: the H.264 sequence parameter set and the MPEG-2 sequence header.

MPEG-TS carries no container-level size or frame rate: they live in the codec's own
headers at the start of the first access unit. The SPS is bit-packed with
Exp-Golomb codes, behind emulation-prevention bytes (``00 00 03``), and its frame rate
is in the optional VUI timing info; when absent the caller falls back to timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

from accessio.probe.errors import ProbeCorrupt

_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
_MPEG2_RATES = {1: 24000 / 1001, 2: 24.0, 3: 25.0, 4: 30000 / 1001, 5: 30.0, 6: 50.0, 7: 60000 / 1001, 8: 60.0}


@dataclass(frozen=True)
class StreamHeader:
    width: int
    height: int
    fps: float | None


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, count: int) -> int:
        value = 0
        for _ in range(count):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ProbeCorrupt("H.264: the sequence parameter set is cut off")
            value = (value << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ProbeCorrupt("H.264: an Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def find_h264_sps(stream: bytes) -> StreamHeader | None:
    """The first SPS in an Annex B byte stream, parsed; None when the bytes hold none."""
    for nal in _nal_units(stream):
        if nal and nal[0] & 0x1F == 7:
            return parse_sps(_unescape(nal[1:]))
    return None


def parse_sps(rbsp: bytes) -> StreamHeader:
    bits = _Bits(rbsp)
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    separate_planes = 0
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            separate_planes = bits.u(1)
        bits.ue()
        bits.ue()
        bits.u(1)
        if bits.u(1):
            for index in range(12 if chroma_format == 3 else 8):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(min(bits.ue(), 255)):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)
    bits.u(1)
    crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.u(1) else (0, 0, 0, 0)
    array_type = 0 if separate_planes else chroma_format
    sub_w, sub_h = {1: (2, 2), 2: (2, 1), 3: (1, 1)}.get(array_type, (1, 1))
    unit_x = 1 if array_type == 0 else sub_w
    unit_y = (1 if array_type == 0 else sub_h) * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    fps = _vui_fps(bits) if bits.u(1) else None
    return StreamHeader(width, height, fps)


def _vui_fps(bits: _Bits) -> float | None:
    if bits.u(1) and bits.u(8) == 255:
        bits.u(32)
    if bits.u(1):
        bits.u(1)
    if bits.u(1):
        bits.u(4)
        if bits.u(1):
            bits.u(24)
    if bits.u(1):
        bits.ue()
        bits.ue()
    if not bits.u(1):
        return None
    units, scale = bits.u(32), bits.u(32)
    return scale / (2 * units) if units and scale else None


def parse_mpeg2_sequence(stream: bytes) -> StreamHeader | None:
    """Size and frame rate of the first MPEG-1/2 sequence header (``00 00 01 B3``) in the bytes."""
    at = stream.find(b"\x00\x00\x01\xb3")
    if at < 0 or at + 8 > len(stream):
        return None
    word = int.from_bytes(stream[at + 4 : at + 8], "big")
    return StreamHeader(word >> 20, (word >> 8) & 0xFFF, _MPEG2_RATES.get(word & 0xF))


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def _nal_units(stream: bytes) -> list[bytes]:
    units: list[bytes] = []
    pos = stream.find(b"\x00\x00\x01")
    while 0 <= pos < len(stream) and len(units) < 256:
        start = pos + 3
        following = stream.find(b"\x00\x00\x01", start)
        end = len(stream) if following < 0 else following
        units.append(stream[start:end].rstrip(b"\x00"))
        pos = following
    return units


def _unescape(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")
