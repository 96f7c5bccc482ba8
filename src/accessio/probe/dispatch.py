"""``probe`` and ``sniff``: content decides the type, then the format's prober reads the metadata."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import replace

from accessio.probe import aiff, audio, image, matroska, mp4, mpegaudio, mpegps, mpegts, nifti, pdf, riff, text
from accessio.probe.errors import ProbeCorrupt, ProbeError, ProbeTypeMismatch, ProbeUnsupported, kind_noun
from accessio.probe.info import Kind, MediaInfo, ProbeLimits
from accessio.probe.sniff import OCTET_STREAM, sniff_source
from accessio.probe.source import BinaryReader, Source

DEFAULT_LIMITS = ProbeLimits()

def _probe_dicom(src: Source) -> MediaInfo:
    # pydicom is imported when a DICOM file is probed: a job of other files starts without
    # it (it imports requests and numpy: a tenth of a second or more)
    from accessio.probe import dicom  # noqa: PLC0415

    return dicom.probe_dicom(src)


_PROBERS: dict[str, Callable[[Source, str], MediaInfo]] = {
    "video/mp4": mp4.probe_mp4,
    "video/quicktime": mp4.probe_mp4,
    "audio/mp4": mp4.probe_mp4,
    "video/webm": lambda src, _: matroska.probe_matroska(src),
    "video/x-matroska": lambda src, _: matroska.probe_matroska(src),
    "video/x-msvideo": lambda src, _: riff.probe_avi(src),
    "video/mp2t": lambda src, _: mpegts.probe_ts(src),
    mpegps.MIME: lambda src, _: mpegps.probe_ps(src),
    "audio/wav": lambda src, _: riff.probe_wav(src),
    "audio/mpeg": lambda src, _: mpegaudio.probe_mp3(src),
    "audio/aac": lambda src, _: mpegaudio.probe_adts(src),
    "audio/flac": lambda src, _: audio.probe_flac(src),
    aiff.MIME: lambda src, _: aiff.probe_aiff(src),
    "audio/ogg": lambda src, _: audio.probe_ogg(src),
    "application/pdf": lambda src, _: pdf.probe_pdf(src),
    "application/dicom": lambda src, _: _probe_dicom(src),
    nifti.MIME: lambda src, _: nifti.probe_nifti(src),
}
# Containers that hold video or audio: the prober, not the first bytes, decides which.
_AUDIO_OR_VIDEO = {"video/mp4", "video/quicktime", "audio/mp4", "video/webm", "video/x-matroska", "audio/ogg"}
_TEXT_MIMES = {"application/json", "application/xml"}
# Item types of the spec (accessio.spec.model.ItemType) whose files are probed as another kind's.
_ITEM_TYPES = {
    "plainText": Kind.TEXT, "dicomFile": Kind.DICOM, "dicomSeries": Kind.DICOM,
    "imageGroup": Kind.IMAGE, "imageSequence": Kind.IMAGE,
}  # fmt: skip
# Why content of no known format is refused, where the kind has more to say than "no known signature".
_UNKNOWN_CONTENT = {
    Kind.DICOM: "no DICM marker at byte 128: DICOM files without the Part 10 header (preamble and file meta "
    "information) are not read",
}
# What malformed input can make the parsers raise; at the boundary it all means corrupt.
_MALFORMED = (struct.error, IndexError, ValueError, KeyError, OverflowError, zlib.error, EOFError, RecursionError)


def kind_of_mime(mime: str) -> Kind | None:
    """The media kind a mime type belongs to, or None.

    >>> kind_of_mime("image/jpeg")
    <Kind.IMAGE: 'image'>
    """
    top = mime.split("/", 1)[0]
    if top in ("image", "video", "audio"):
        return Kind(top)
    if top == "text" or mime in _TEXT_MIMES:
        return Kind.TEXT
    return {"application/pdf": Kind.PDF, "application/dicom": Kind.DICOM, nifti.MIME: Kind.NIFTI}.get(mime)


def sniff(reader: BinaryReader, *, limits: ProbeLimits = DEFAULT_LIMITS) -> str:
    """The mime type of the content (``application/octet-stream`` when nothing matches).

    >>> sniff(io.BytesIO(b"%PDF-1.7 ..."))  # doctest: +SKIP
    'application/pdf'
    """
    return sniff_source(Source(reader, limits))


# Images get a smaller first block: a header that needs a second one (a TIFF whose
# directory follows its data, a JPEG behind large APP segments) then still costs at
# most 64 KiB in two requests. Everything else reads 64 KiB blocks.
_FIRST_BLOCK = {Kind.IMAGE: 32 * 1024}


def block_size_for(kind: Kind | str) -> int:
    """The reader block (and the probe's first read) for probing a ``kind`` or an item type.

    >>> block_size_for("image"), block_size_for("video")
    (32768, 65536)
    """
    size = _BLOCK_SIZES.get(kind)
    return _first_block(kind) if size is None else size


def _first_block(kind: Kind | str) -> int:
    return _FIRST_BLOCK.get(_ITEM_TYPES.get(str(kind)) or Kind(kind), 65536)


_BLOCK_SIZES: dict[str, int] = {str(name): _first_block(name) for name in (*Kind, *_ITEM_TYPES)}
# The limits of a probe of each kind when the caller gives none (made once, not per probe).
_LIMITS_OF = {kind: replace(DEFAULT_LIMITS, head_size=block_size_for(kind)) for kind in Kind}


def probe(
    reader: BinaryReader, expected_kind: Kind | str, *, url: str = "", limits: ProbeLimits | None = None
) -> MediaInfo:
    """Media metadata of the content, which must be of ``expected_kind``; raises ProbeError otherwise.

    ``expected_kind`` is a :class:`Kind` or an item type (``"plainText"``, ``"dicomFile"``, ...).

    >>> info = probe(storage.reader("s3://b/clip.mp4"), "video", url="s3://b/clip.mp4")  # doctest: +SKIP
    >>> info.fps, info.duration, info.width, info.height  # doctest: +SKIP
    (25.0, 12.0, 1280, 720)
    """
    expected = _ITEM_TYPES.get(str(expected_kind)) or Kind(expected_kind)
    if limits is None:
        limits = _LIMITS_OF[expected]
    try:
        src = Source(reader, limits, url)
        mime = sniff_source(src)
        if mime == OCTET_STREAM and expected is Kind.AUDIO:
            start = mpegaudio.junk_before_frames(src)
            if start is not None:
                return mpegaudio.probe_mp3(src, start)
        if mime == OCTET_STREAM and expected is not Kind.TEXT:  # binary declared text is a plain mismatch
            why = _UNKNOWN_CONTENT.get(expected, "its first bytes match no known signature")
            raise ProbeUnsupported(f"the content is in no format the probes read as {kind_noun(expected)} ({why})",
                                   url=url)  # fmt: skip
        found = kind_of_mime(mime)
        ambiguous = mime in _AUDIO_OR_VIDEO and expected in (Kind.VIDEO, Kind.AUDIO)
        if found != expected and not ambiguous:
            raise ProbeTypeMismatch(expected, mime, url=url)
        info = _probe_as(src, mime, found)
        if info.kind != expected:
            raise ProbeTypeMismatch(expected, info.mime_type, url=url)
        return info
    except ProbeError as exc:
        exc.url = exc.url or url
        raise
    except _MALFORMED as exc:
        raise ProbeCorrupt(f"{expected}: malformed content ({type(exc).__name__}: {exc})", url=url) from exc


def _probe_as(src: Source, mime: str, kind: Kind | None) -> MediaInfo:
    if kind is Kind.IMAGE:
        return image.probe_image(src, mime)
    if kind is Kind.TEXT:
        return text.probe_text(src, mime)
    prober = _PROBERS.get(mime)
    if prober is None:
        raise ProbeUnsupported(f"files of type {mime} are not probed")
    return prober(src, mime)


def probe_content(reader: BinaryReader, *, url: str = "", limits: ProbeLimits = DEFAULT_LIMITS) -> MediaInfo | None:
    """Media metadata of the content, whatever kind it is (a synced folder's objects bring
    no declared type); ``None`` when it is in no media format the probes read (an archive,
    a binary of some other kind). Raises ProbeError when it is media but cannot be read.

    >>> probe_content(storage.reader("s3://b/clip"), url="s3://b/clip").kind  # doctest: +SKIP
    <Kind.VIDEO: 'video'>
    """
    try:
        src = Source(reader, limits, url)
        mime = sniff_source(src)
        if mime == OCTET_STREAM:
            start = mpegaudio.junk_before_frames(src)
            return None if start is None else mpegaudio.probe_mp3(src, start)
        kind = kind_of_mime(mime)
        if kind is None:
            return None
        return _probe_as(src, mime, kind)
    except ProbeError as exc:
        exc.url = exc.url or url
        raise
    except _MALFORMED as exc:
        raise ProbeCorrupt(f"malformed content ({type(exc).__name__}: {exc})", url=url) from exc
