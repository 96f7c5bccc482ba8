"""Videos encoded by PyAV: MP4 (index at the start and at the end), MOV, MKV, WebM, AVI, MPEG-TS.

Frames are noise over a moving gradient, so files have the size of real footage of
that resolution (the benchmark needs videos of several megabytes). The truth is what
the encoder was asked for: frame count, frame rate, and their quotient as duration.
A rotated MP4 is made by rewriting the ``tkhd`` display matrix of an encoded file.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.media import Entry


def encode(
    path: Path,
    container: str,
    codec: str,
    *,
    frames: int,
    rate: Fraction,
    size: tuple[int, int],
    options: dict[str, str] | None = None,
    bit_rate: int | None = None,
) -> None:
    """Encode ``frames`` frames of noise at ``rate`` into ``path``."""
    width, height = size
    rng = np.random.default_rng(7)
    with av.open(str(path), "w", format=container, options=options or {}) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        if codec in ("libx264", "libvpx"):
            stream.options = (
                {"preset": "ultrafast"} if codec == "libx264" else {"deadline": "realtime", "cpu-used": "8"}
            )
        base = np.linspace(0, 200, width, dtype=np.uint8)[None, :, None]
        for index in range(frames):
            noise = rng.integers(0, 56, (height, width, 3), dtype=np.uint8)
            pixels = np.roll(base, index * 4, axis=1) + noise
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def rotate_mp4(path: Path, degrees: int) -> None:
    """Rewrite the first ``tkhd`` display matrix so players turn the video ``degrees`` clockwise."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd") - 4
    version = data[at + 8]
    matrix = at + 8 + (52 if version == 1 else 40)
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    one = 0x10000
    values = (cos * one, sin * one, 0, -sin * one, cos * one, 0, 0, 0, 0x40000000)
    struct.pack_into(">9i", data, matrix, *values)
    path.write_bytes(bytes(data))


def build(root: Path, scale: str) -> list[Entry]:
    big = scale == "bench"
    size = (640, 360) if big else (320, 240)
    frames = 125 if big else 50
    bit_rate = 24_000_000 if big else None  # 5 s at 24 Mbit/s: about 15 MB a video, a short 1080p clip's size
    entries: list[Entry] = []

    def make(name: str, suffix: str, container: str, codec: str, mime: str, codec_name: str, rate: Fraction,
             options: dict[str, str] | None = None, rotation: int = 0) -> None:  # fmt: skip
        path = root / f"{name}.{suffix}"
        encode(path, container, codec, frames=frames, rate=rate, size=size, options=options, bit_rate=bit_rate)
        if rotation:
            rotate_mp4(path, rotation)
        truth = {
            "mime_type": mime, "width": size[0], "height": size[1], "fps": float(rate), "frame_count": frames,
            "duration": frames / float(rate), "codec": codec_name, "rotation": rotation,
        }  # fmt: skip
        entries.append(Entry(name, path, "video", truth))

    faststart = {"movflags": "faststart"}
    make("mp4-moov-start", "mp4", "mp4", "libx264", "video/mp4", "h264", Fraction(25), faststart)
    make("mp4-moov-end", "mp4", "mp4", "libx264", "video/mp4", "h264", Fraction(25))
    make("mp4-ntsc", "mp4", "mp4", "libx264", "video/mp4", "h264", Fraction(30000, 1001), faststart)
    make("mp4-rotated-90", "mp4", "mp4", "libx264", "video/mp4", "h264", Fraction(25), faststart, rotation=90)
    make("mov", "mov", "mov", "libx264", "video/quicktime", "h264", Fraction(30))
    make("mkv", "mkv", "matroska", "libx264", "video/x-matroska", "h264", Fraction(24))
    make("webm", "webm", "webm", "libvpx", "video/webm", "vp8", Fraction(25))
    make("avi", "avi", "avi", "mpeg4", "video/x-msvideo", "mpeg4", Fraction(25))
    make("mpegts-h264", "ts", "mpegts", "libx264", "video/mp2t", "h264", Fraction(25))
    make("mpegts-mpeg2", "ts", "mpegts", "mpeg2video", "video/mp2t", "mpeg2video", Fraction(25))
    make("mpeg-ps", "mpg", "mpeg", "mpeg2video", "video/mpeg", "mpeg2video", Fraction(25))
    # FFmpeg's fragmented MP4 has no mvex/mehd: the duration is the sum of the fragments (0.5 s each here).
    fragmented = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "500000"}
    make("mp4-fragmented", "mp4", "mp4", "libx264", "video/mp4", "h264", Fraction(25), fragmented)
    return entries
