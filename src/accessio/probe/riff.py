"""RIFF files: AVI video and WAV audio, from the chunks at the front of the file.

RIFF is chunks of (four-letter id, 32-bit little-endian size, body padded to even);
``LIST`` chunks nest. AVI keeps everything needed in ``LIST hdrl`` (the main header
``avih`` and one ``LIST strl`` per stream with ``strh`` and ``strf``), before the
``movi`` data. WAV has ``fmt `` then ``data``, whose size gives the duration; RF64
(WAV over 4 GiB) keeps the real data size in its ``ds64`` chunk (a data chunk that
runs past the end of the file gives the duration of the data present, what decoders
play; a size of 0 or 0xFFFFFFFF, left by streaming writers, the data to the end).
RIFX is the same as RIFF with big-endian numbers (and samples).

Codec names are FFmpeg's, as ffprobe prints them: PCM is named by its container
width, the sample's bits rounded up to whole bytes (``pcm_s24le`` for 20-bit samples,
``pcm_u8`` for 8 bits or fewer: 8-bit WAV is unsigned), while ``bit_depth`` is the
significant bits the file declares (20).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from accessio.probe.errors import ProbeCorrupt, ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

MAX_CHUNKS = 1024
MAX_HEADER_LIST_BYTES = 1024 * 1024

_WAV_CODECS = {
    2: "adpcm_ms", 6: "pcm_alaw", 7: "pcm_mulaw", 0x11: "adpcm_ima_wav", 0x31: "gsm_ms", 0x50: "mp2", 0x55: "mp3",
    0xFF: "aac", 0x161: "wmav2", 0x2000: "ac3", 0xF1AC: "flac",
}  # fmt: skip
_PCM, _FLOAT = 1, 3
_STREAMED_SIZES = (0, 0xFFFFFFFF)  # a data size a streaming writer could not fill in: the data runs to the end
_AVI_CODECS = {
    b"H264": "h264", b"X264": "h264", b"AVC1": "h264", b"HEVC": "hevc", b"H265": "hevc", b"FMP4": "mpeg4",
    b"XVID": "mpeg4", b"DIVX": "mpeg4", b"DX50": "mpeg4", b"MP4V": "mpeg4", b"3IV2": "mpeg4", b"MJPG": "mjpeg",
    b"MPG2": "mpeg2video", b"MPG1": "mpeg1video", b"DIV3": "msmpeg4v3", b"MP43": "msmpeg4v3", b"MP42": "msmpeg4v2",
    b"MPG4": "msmpeg4v1", b"WMV1": "wmv1", b"WMV2": "wmv2", b"WMV3": "wmv3", b"WVC1": "vc1", b"CVID": "cinepak",
    b"MSVC": "msvideo1", b"CRAM": "msvideo1", b"IV32": "indeo3", b"IV41": "indeo4", b"IV50": "indeo5",
    b"DVSD": "dvvideo", b"VP80": "vp8", b"VP90": "vp9", b"AV01": "av1", b"FFV1": "ffv1", b"HFYU": "huffyuv",
    b"\0\0\0\0": "rawvideo", b"DIB ": "rawvideo", b"\x01\0\0\0": "msrle", b"\x02\0\0\0": "msrle",
}  # fmt: skip
_EXTENSIBLE = 0xFFFE


def probe_wav(src: Source) -> MediaInfo:
    """Sample rate, bit depth, channels, codec and duration of a WAV (RIFF, RF64 or big-endian RIFX) file."""
    order = ">" if src.head()[:4] == b"RIFX" else "<"
    rf64_data_size: int | None = None
    fmt: bytes | None = None
    for kind, offset, size in _chunks(src, 12, src.size, order):
        if kind == b"ds64":
            rf64_data_size = struct.unpack(order + "Q", src.exact(offset + 8, 8, "the ds64 chunk"))[0]
        elif kind == b"fmt ":
            fmt = src.exact(offset, min(size, 40), "the fmt chunk")
        elif kind == b"data":
            if fmt is None or len(fmt) < 16:
                raise src.corrupt("WAV: no fmt chunk before the data")
            present = src.size - offset
            data_size = rf64_data_size if size == 0xFFFFFFFF and rf64_data_size is not None else size
            if size in _STREAMED_SIZES and rf64_data_size is None:
                data_size = present
            # A file cut inside its data (the header written first) plays what it holds, as decoders find.
            return _wav_info(src, fmt, min(data_size, present), order)
    raise src.corrupt("WAV: no data chunk")


def _wav_info(src: Source, fmt: bytes, data_size: int, order: str) -> MediaInfo:
    tag, channels, rate, byte_rate, align, bits = struct.unpack_from(order + "HHIIHH", fmt)
    valid_bits = bits
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        valid_bits, _mask, tag = struct.unpack_from(order + "HIH", fmt, 18)
        valid_bits = valid_bits if 0 < valid_bits <= bits else bits
    if channels == 0 or rate == 0 or byte_rate == 0:
        raise src.corrupt(f"WAV: {channels} channels at {rate} Hz, {byte_rate} bytes/s")
    codec = _pcm_codec(tag, bits, big_endian=order == ">") or _WAV_CODECS.get(tag)  # unknown tag: no codec
    lossless = tag in (_PCM, _FLOAT)
    frames_or_bytes = data_size / (align * rate) if lossless and align else data_size / byte_rate
    return MediaInfo(
        kind=Kind.AUDIO, mime_type="audio/wav", file_size=src.size, duration=frames_or_bytes, codec=codec,
        sample_rate=rate, num_channels=channels, bit_depth=valid_bits if lossless and valid_bits else None,
    )  # fmt: skip


def _pcm_codec(tag: int, bits: int, *, big_endian: bool) -> str | None:
    """FFmpeg's name of integer or float PCM: by whole bytes per sample, unsigned at one byte."""
    if tag == _FLOAT and bits in (32, 64):
        return f"pcm_f{bits}{'be' if big_endian else 'le'}"
    if tag != _PCM or not 0 < bits <= 64:
        return None
    width = (bits + 7) // 8 * 8
    return "pcm_u8" if width == 8 else f"pcm_s{width}{'be' if big_endian else 'le'}"


def probe_avi(src: Source) -> MediaInfo:
    """Frame rate, frame count, size and codec of an AVI file, from its ``hdrl`` list."""
    info: MediaInfo | None = None
    for kind, offset, size in _chunks(src, 12, src.size):
        list_type = src.read(offset, 4) if kind == b"LIST" else b""
        if list_type == b"hdrl":
            if size > MAX_HEADER_LIST_BYTES:
                raise src.too_large(f"AVI: the header list is {size:,} bytes")
            info = _avi_info(src, src.exact(offset, size, "the AVI header list"))
        elif list_type == b"movi" and info is not None:
            # The header counts every frame written; a file cut inside its data holds fewer.
            if offset + size > src.size:
                raise src.corrupt(
                    f"AVI: the movi list declares {size:,} bytes but the file ends {offset + size - src.size:,} "
                    "bytes short (truncated)"
                )
            return info
    if info is None:
        raise src.corrupt("AVI: no hdrl list")
    raise src.corrupt("AVI: no movi list after the header (the file is cut before its data)")


def _avi_info(src: Source, hdrl: bytes) -> MediaInfo:
    total_frames = width = height = 0
    stream: tuple[bytes, int, int, int, int, int] | None = None
    odml_frames = 0
    for kind, offset, size in _memory_chunks(hdrl, 4, len(hdrl)):
        body = hdrl[offset : offset + size]
        if kind == b"avih" and len(body) >= 40:
            total_frames, _, _, _, width, height = struct.unpack_from("<6I", body, 16)
        elif kind == b"LIST" and body[:4] == b"strl" and stream is None:
            stream = _video_stream(body)
        elif kind == b"LIST" and body[:4] == b"odml":
            for sub, sub_offset, sub_size in _memory_chunks(body, 4, len(body)):
                if sub == b"dmlh" and sub_size >= 4:
                    odml_frames = struct.unpack_from("<I", body, sub_offset)[0]
    if stream is None:
        raise ProbeUnsupported("AVI: no video stream")
    handler, scale, rate, length, s_width, s_height = stream
    if scale == 0 or rate == 0:
        raise src.corrupt(f"AVI: the video stream's rate is {rate}/{scale}")
    fps = rate / scale
    frames = odml_frames or length or total_frames
    width, height = s_width or width, s_height or height
    if width * height > src.limits.max_pixels:
        raise src.too_large(f"AVI: the video declares {width:,} x {height:,} pixels")
    codec = _AVI_CODECS.get(handler.upper())  # an unknown four-character code is no codec name: none is given
    return MediaInfo(
        kind=Kind.VIDEO, mime_type="video/x-msvideo", file_size=src.size, width=width or None, height=height or None,
        fps=fps, duration=frames / fps if frames else None, frame_count=frames or None, codec=codec, rotation=0,
    )  # fmt: skip


def _video_stream(strl: bytes) -> tuple[bytes, int, int, int, int, int] | None:
    strh = strf = None
    for kind, offset, size in _memory_chunks(strl, 4, len(strl)):
        if kind == b"strh" and size >= 36:
            strh = strl[offset : offset + size]
        elif kind == b"strf" and size >= 20:
            strf = strl[offset : offset + size]
    if strh is None or strh[:4] != b"vids":
        return None
    scale, rate, _start, length = struct.unpack_from("<4I", strh, 20)
    width = height = 0
    handler = strh[4:8]
    if strf is not None:
        width, height = struct.unpack_from("<ii", strf, 4)
        handler = strf[16:20] if strf[16:20].strip(b"\0") else handler
    return handler, scale, rate, length, abs(width), abs(height)


def _chunks(src: Source, pos: int, end: int, order: str = "<") -> Iterator[tuple[bytes, int, int]]:
    """(id, body offset, body size) of the chunks from ``pos``, read header by header through the source."""
    for _ in range(MAX_CHUNKS):
        if pos + 8 > end:
            return
        src.check_time()
        kind, size = struct.unpack(order + "4sI", src.exact(pos, 8, "a RIFF chunk header"))
        yield kind, pos + 8, size
        pos += 8 + size + (size & 1)
    raise src.corrupt(f"RIFF: more than {MAX_CHUNKS} chunks")


def _memory_chunks(data: bytes, pos: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    for _ in range(MAX_CHUNKS):
        if pos + 8 > end:
            return
        kind, size = struct.unpack_from("<4sI", data, pos)
        if pos + 8 + size > end:
            raise ProbeCorrupt(f"RIFF: chunk {kind!r} overruns its list")
        yield kind, pos + 8, size
        pos += 8 + size + (size & 1)
    raise ProbeCorrupt(f"RIFF: more than {MAX_CHUNKS} chunks in one list")
