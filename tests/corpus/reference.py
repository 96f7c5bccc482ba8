"""What the readers people trust say about a file: Pillow, PyAV, soundfile, pydicom, nibabel, pypdf.

Each reader returns the MediaInfo fields it can vouch for, or raises when it cannot
read the file (the file then leaves the denominator). A field given as ``None`` means
the reference says the file has no such value (lossy audio has no bit depth).
"""

from __future__ import annotations

import codecs
import json
import logging
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import mutagen
import nibabel
import pydicom
import pypdf
import soundfile
from PIL import Image

from accessio.spec.convert import REQUIRED_DICOM_TAGS

Fields = dict[str, Any]


class OneOf(tuple[Any, ...]):
    """Values of two trusted readers (or two readings of one) that disagree: the probe may agree with either."""

_PIL_MIME = {"MPO": "image/jpeg", "JPEG": "image/jpeg"}
_LOSSLESS_AUDIO = ("pcm_", "flac", "alac")
_SF_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}
_DECODE_WHOLE_BYTES = 4 * 1024 * 1024
_DEMUXER_MIMES: dict[str, str | tuple[str, ...]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("video/mp4", "video/quicktime", "audio/mp4"),
    "matroska,webm": ("video/webm", "video/x-matroska"), "avi": "video/x-msvideo", "mpegts": "video/mp2t",
    "mpeg": "video/mpeg", "wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
    "aiff": "audio/aiff", "aac": "audio/aac",
}  # fmt: skip
_FLOAT_SAMPLES = {"flt": 32, "fltp": 32, "dbl": 64, "dblp": 64}

logging.getLogger("pypdf").setLevel(logging.CRITICAL)
logging.getLogger("libav").setLevel(logging.CRITICAL)
av.logging.set_level(av.logging.PANIC)


def read_image(path: Path) -> Fields:
    with Image.open(path) as image:
        width, height = image.size
        if image.format == "TIFF":  # Pillow turns libtiff-decoded (G3/G4) TIFFs upright already: take the stored size
            tags = image.tag_v2  # type: ignore[attr-defined]
            width, height = tags.get(256, width), tags.get(257, height)
        orientation = image.getexif().get(0x0112)
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        mime = _PIL_MIME.get(image.format or "") or Image.MIME.get(image.format or "")
        return {"mime_type": mime, "width": width, "height": height}


def read_video(path: Path) -> Fields:
    """PyAV: the first video stream's size, codec, rate and rotation, the demuxer's mime type; its packets
    give the duration and frame count.

    The file counts as read when PyAV decodes its first frame. The duration is the span
    of the packets' timestamps plus one frame (FFmpeg's own duration of a program stream
    leaves out the last frame), the frame count the number of packets; the container's
    own duration and frame count, where they differ, are accepted too. FFmpeg's guessed
    rate of interlaced H.264 is the field rate, twice the frame rate: either is accepted.
    """
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("PyAV finds no video stream")
        stream = container.streams.video[0]
        context = stream.codec_context
        fields: Fields = {"codec": _codec_name(context)}
        first = next(container.decode(stream), None)
        if first is None:
            raise ValueError("PyAV decodes no frame")
        if context.width and context.height:
            fields["width"], fields["height"] = context.width, context.height
        fields["rotation"] = round(-first.rotation) % 360  # FFmpeg's angle is counter-clockwise
        mime = _container_mime(container)
        if mime is not None:
            fields["mime_type"] = mime
        rate = stream.average_rate or stream.guessed_rate
        if rate:
            fields["fps"] = OneOf((float(rate), float(rate) / 2)) if first.interlaced_frame else float(rate)
        time_base = stream.time_base
        declared = _duration(container, stream), stream.frames
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [packet.pts for packet in container.demux(stream) if packet.pts is not None and packet.size]
    if len(pts) >= 2 and time_base:
        span = float((max(pts) - min(pts)) * time_base)
        fields["duration"] = span * len(pts) / (len(pts) - 1)
        fields["frame_count"] = len(pts)
    for key, value in zip(("duration", "frame_count"), declared, strict=True):
        if value and key in fields and value != fields[key]:
            fields[key] = OneOf((fields[key], value))
        elif value:
            fields[key] = value
    return fields


def read_audio(path: Path) -> Fields:
    """PyAV for the codec, rate, channels and duration, mutagen's where it differs; soundfile for the bit depth.

    PyAV and mutagen disagree on MP3 and Ogg files with trailing tags or chained
    streams (FFmpeg then drops the Xing header for the bitrate estimate): either is accepted.
    Files up to 4 MiB are decoded whole, and the seconds decoded are accepted too (a WAV
    cut short holds less than its header says). A file PyAV decodes no frame of is not read.
    """
    fields = _pyav_audio(path)
    try:
        info = mutagen.File(path).info  # type: ignore[attr-defined]
    except Exception:  # mutagen does not read this format: PyAV alone
        return fields
    for key, value in (("duration", info.length), ("sample_rate", getattr(info, "sample_rate", None)),
                       ("num_channels", getattr(info, "channels", None))):  # fmt: skip
        if value and key in fields and value != fields[key]:
            fields[key] = OneOf((fields[key], value))
    return fields


def _pyav_audio(path: Path) -> Fields:
    with av.open(str(path)) as container:
        if not container.streams.audio or (container.streams.video and not _cover_art_only(container)):
            raise ValueError("PyAV finds no audio-only stream")
        stream = container.streams.audio[0]
        context = stream.codec_context
        fields: Fields = {
            "codec": _codec_name(context), "sample_rate": context.sample_rate, "num_channels": context.channels,
        }  # fmt: skip
        mime = _container_mime(container)
        if mime is not None:
            fields["mime_type"] = mime
        duration = _duration(container, stream)
        decoded = _decoded_seconds(container, stream, whole=path.stat().st_size <= _DECODE_WHOLE_BYTES)
        if duration is not None:
            fields["duration"] = duration if decoded is None or decoded == duration else OneOf((duration, decoded))
        elif decoded is not None:
            fields["duration"] = decoded
        if not fields["codec"].startswith(_LOSSLESS_AUDIO):
            fields["bit_depth"] = None
    if fields["codec"].startswith(_LOSSLESS_AUDIO):
        try:
            info = soundfile.info(str(path))
            fields["bit_depth"] = _SF_BITS.get(info.subtype)
            if fields["codec"].endswith(("le", "be")) and info.endian in ("BIG", "LITTLE"):
                # FFmpeg names (and decodes) RIFX's big-endian samples as little-endian; libsndfile reads them right.
                fields["codec"] = fields["codec"][:-2] + ("be" if info.endian == "BIG" else "le")
        except (RuntimeError, soundfile.LibsndfileError):  # type: ignore[attr-defined]
            bits = _FLOAT_SAMPLES.get(context.format.name if context.format else "")
            if bits is not None:
                fields["bit_depth"] = bits
    return fields


def _decoded_seconds(container: Any, stream: Any, *, whole: bool) -> float | None:
    """The seconds of sound decoded, or None when not decoded whole (too large, or a damaged frame on the way).

    A file PyAV decodes no frame of is not read: raises.
    """
    samples = 0
    try:
        for frame in container.decode(stream):
            samples += frame.samples
            if not whole:
                return None
    except av.error.FFmpegError:
        if samples:
            return None
        raise
    if not samples:
        raise ValueError("PyAV decodes no audio frame")
    return samples / stream.codec_context.sample_rate if stream.codec_context.sample_rate else None


def _codec_name(context: Any) -> str:
    """The codec's name as ffprobe prints it (``mp3``, not the decoder's ``mp3float``)."""
    return str(context.codec.canonical_name)


def _container_mime(container: Any) -> Any:
    """The mime types FFmpeg's demuxer allows (a family for ISO-BMFF and Matroska, which it does not tell apart)."""
    name = container.format.name
    found = _DEMUXER_MIMES.get(name)
    return OneOf(found) if isinstance(found, tuple) else found


def _cover_art_only(container: Any) -> bool:
    return all(stream.disposition & av.stream.Disposition.attached_pic for stream in container.streams.video)


def _duration(container: Any, stream: Any) -> float | None:
    """The stream's duration, else the container's; None when neither is known (or is negative)."""
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = float(Fraction(container.duration, av.time_base))
    return duration if duration is not None and duration > 0 else None


def read_dicom(path: Path) -> Fields:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    rows, columns = dataset.get("Rows"), dataset.get("Columns")
    frames = dataset.get("NumberOfFrames")
    tags = {}
    for tag in REQUIRED_DICOM_TAGS:
        element = dataset.get(int(tag, 16))
        tags[tag] = None if element is None else element.to_json_dict(None, 1024).get("Value")
    return {
        "mime_type": "application/dicom", "width": columns, "height": rows,
        "frame_count": int(frames) if frames else (1 if rows else None),
        "modality": str(dataset.get("Modality", "")).strip() or None,
        "dicom_study_uid": str(dataset.get("StudyInstanceUID", "")) or None,
        "dicom_series_uid": str(dataset.get("SeriesInstanceUID", "")) or None,
        "dicom_instance_uid": str(dataset.get("SOPInstanceUID", "")) or None,
        "dicom_tags": tags,
    }  # fmt: skip


def read_nifti(path: Path) -> Fields:
    image = nibabel.load(path)
    if not isinstance(image, nibabel.Nifti1Image | nibabel.Nifti2Image):
        raise ValueError(f"nibabel reads a {type(image).__name__}, not a NIfTI image")
    header = image.header
    shape = tuple(int(d) for d in header.get_data_shape())
    return {"mime_type": "application/x-nifti", "shape": shape, "width": shape[0],
            "height": shape[1] if len(shape) > 1 else None,
            "voxel_size": tuple(abs(float(z)) for z in header.get_zooms())}  # fmt: skip


def read_pdf(path: Path) -> Fields:
    reader = pypdf.PdfReader(path, strict=False)
    if reader.is_encrypted:
        reader.decrypt("")
    return {"mime_type": "application/pdf", "num_pages": len(reader.pages)}


def read_text(path: Path) -> Fields:
    """The encoding a strict decoder accepts for the whole file (BOM, else ASCII or UTF-8), and JSON/XML."""
    data = path.read_bytes()
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16le"), (codecs.BOM_UTF16_BE, "utf-16be")):
        if data.startswith(bom):
            data[len(bom) :].decode(name)
            return {"encoding": name}
    text = data.decode("utf-8")  # not UTF-8 and no BOM: no reference to judge a guessed single-byte encoding
    if "\x00" in text:
        raise ValueError("NUL characters: not a text file")
    fields: Fields = {"encoding": "ascii" if text.isascii() else "utf-8"}
    start = text.lstrip("\ufeff \t\r\n")[:64].lower()
    if start.startswith("<?xml"):
        fields["mime_type"] = "application/xml"
    elif start[:1] in ("{", "["):
        try:
            json.loads(text)
            fields["mime_type"] = "application/json"
        except ValueError:
            fields["mime_type"] = "text/plain"
    elif not start.startswith(("<!doctype html", "<html")):
        fields["mime_type"] = "text/plain"
    return fields


READERS: dict[str, Callable[[Path], Fields]] = {
    "image": read_image, "video": read_video, "audio": read_audio, "dicom": read_dicom,
    "nifti": read_nifti, "pdf": read_pdf, "text": read_text,
}  # fmt: skip
REFERENCE_NAMES = {
    "image": "Pillow", "video": "PyAV", "audio": "PyAV, mutagen, soundfile", "dicom": "pydicom",
    "nifti": "nibabel", "pdf": "pypdf", "text": "Python's codecs + json",
}  # fmt: skip


def reference(kind: str, path: Path) -> Fields | None:
    """The reference reader's fields for the file, or None when it cannot read it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return READERS[kind](path)
        except Exception:  # any failure of the reference reader: the file leaves the denominator
            return None
