"""Content sniffing: the mime type from the first bytes, whatever the object's name says.

Magic numbers decide; for containers that hold several kinds (ISO-BMFF, Matroska,
Ogg) the answer is the likeliest and the format's prober settles it (an MP4 with only
a sound track is ``audio/mp4``). Text is the last resort, after every binary format.
"""

from __future__ import annotations

import struct

from accessio.probe import heif, mpegps, mpegts, nifti, text
from accessio.probe.mpegaudio import adts_frame, id3v2_end, mpeg_frame
from accessio.probe.source import Source

OCTET_STREAM = "application/octet-stream"
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_QUICKTIME_FIRST_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def sniff_source(src: Source) -> str:
    """The mime type the object's content shows."""
    head = src.head()
    found = _magic(head)
    if found is not None:
        return found
    if head[:2] == b"\x1f\x8b":
        return nifti.MIME if nifti.is_nifti(nifti.gunzip_head(src)) else "application/gzip"
    if head[:3] == b"ID3" or head[:1] == b"\xff":
        audio = _mpeg_audio(src)
        if audio is not None:
            return audio
    encoding = text.text_encoding(head, complete=len(head) == src.size)
    if encoding is not None and head:
        return text.text_mime(head, encoding, complete=len(head) == src.size)
    return OCTET_STREAM


def _magic(head: bytes) -> str | None:
    # DICOM first: its 128-byte preamble may hold any other format's header (a TIFF's, for dual-format files).
    if head[128:132] == b"DICM":
        return "application/dicom"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack_from("<I", head, 14)[0] in _BMP_HEADER_SIZES:
        return "image/bmp"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head[:4] == b"RIFX" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] in (b"RIFF", b"RF64") and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12])
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        return _ftyp(head)
    if head[4:8] in _QUICKTIME_FIRST_BOXES and struct.unpack_from(">I", head)[0] not in range(2, 8):
        return "video/quicktime"  # classic QuickTime, from before ftyp: the first box is the index, data or padding
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if b"%PDF-" in head[:1024]:
        return "application/pdf"
    if nifti.is_nifti(head):
        return nifti.MIME
    if mpegps.is_program_stream(head):
        return mpegps.MIME
    if mpegts.packet_layout(head) is not None:
        return "video/mp2t"
    return None


def _ftyp(head: bytes) -> str:
    size = struct.unpack_from(">I", head)[0]
    body = head[8 : min(len(head), max(size, 16), 8 + 256)]
    major, compatible = body[:4], [body[i : i + 4] for i in range(8, len(body) - 3, 4)]
    image = heif.mime_of_brands(major, compatible)
    if image is not None and major not in (b"isom", b"mp41", b"mp42", b"qt  "):
        return image
    if major == b"qt  ":
        return "video/quicktime"
    if major in (b"M4A ", b"M4B ", b"M4P ", b"F4A "):
        return "audio/mp4"
    return "video/mp4"


def _mpeg_audio(src: Source) -> str | None:
    """MP3 or ADTS AAC when two frame headers follow each other (one is too easily matched by chance)."""
    start = id3v2_end(src)
    header = src.read(start, 10)
    if header[:4] == b"fLaC":
        return "audio/flac"
    adts = adts_frame(header)
    if adts is not None:
        following = src.read(start + adts[2], 7)
        return "audio/aac" if not following or adts_frame(following) is not None else None
    frame = mpeg_frame(header)
    if frame is not None and frame.length > 0:
        following = src.read(start + frame.length, 4)
        return "audio/mpeg" if not following or mpeg_frame(following) is not None else None
    return None
