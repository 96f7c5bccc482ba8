"""What a probe reports: :class:`MediaInfo`, and the limits a probe runs under."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import msgspec

from accessio.spec.model import DicomAttribute


class Kind(StrEnum):
    """The media kinds a unit can declare, as the probes name them."""

    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"
    PDF = "pdf"
    TEXT = "text"
    DICOM = "dicom"
    NIFTI = "nifti"


class MediaInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Media metadata read from an object's content; ``None`` where the kind has no such value.

    ``width``/``height`` of an image are as displayed (EXIF orientation 5 to 8 swaps
    them); of a video they are the coded size, with ``rotation`` (degrees clockwise)
    saying how players turn it. ``bit_depth`` is ``None`` for lossy audio codecs, which
    have none. ``dicom_tags`` holds the Encord tag set in the DICOM JSON model, every
    tag present as a key (``None`` when the file lacks it).
    """

    kind: Kind
    mime_type: str
    file_size: int
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    duration: float | None = None
    frame_count: int | None = None
    codec: str | None = None
    rotation: int | None = None
    sample_rate: int | None = None
    bit_depth: int | None = None
    num_channels: int | None = None
    num_pages: int | None = None
    encoding: str | None = None
    modality: str | None = None
    dicom_study_uid: str | None = None
    dicom_series_uid: str | None = None
    dicom_instance_uid: str | None = None
    dicom_tags: dict[str, DicomAttribute | None] | None = None
    shape: tuple[int, ...] | None = None
    voxel_size: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ProbeLimits:
    """Bounds of one probe; past any of them it fails with a ProbeError rather than read on.

    >>> ProbeLimits(max_bytes=1 << 20).max_bytes
    1048576

    ``max_bytes`` caps the bytes asked of the reader (an MP4 index, a PDF's xref and
    a DICOM header all count); ``timeout_s`` is checked before every read and inside
    long loops; ``max_pixels`` refuses images and videos whose declared size is absurd
    (the decompression-bomb guard: nothing is decoded, but whoever decodes later
    would be hurt); ``head_size`` is the first read, sized to the reader's first block.
    """

    max_bytes: int = 64 * 1024 * 1024
    timeout_s: float = 20.0
    max_pixels: int = 1 << 30
    head_size: int = 65536
