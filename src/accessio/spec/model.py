"""The one internal model of an upload spec, whatever form it arrived in.

An :class:`UploadSpec` holds units (one video, image, audio, text, PDF or NIfTI file;
one image group or sequence; one DICOM series), its two flags, and where each unit
came from (:class:`SpecSource`) so that later errors can point back into the file.
Two specs are equal when their units and flags are equal, wherever they came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeAlias
from urllib.parse import unquote

import msgspec
from msgspec import Meta

ClientMetadata: TypeAlias = dict[str, Any]
"""The user's own metadata for a unit: any JSON object (SPEC section 5)."""

# Value rules of media metadata fields, enforced by the decoder itself.
Dimension = Annotated[int, Meta(ge=1, le=2**31 - 1)]
Count = Annotated[int, Meta(ge=1, le=2**31 - 1)]
FileSize = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Positive = Annotated[float, Meta(gt=0)]
MimeType = Annotated[str, Meta(min_length=1, max_length=255)]
Codec = Annotated[str, Meta(min_length=1, max_length=64)]


class ItemType(StrEnum):
    """Item types, as their wire values (SPEC section 1)."""

    VIDEO = "video"
    IMAGE = "image"
    IMAGE_GROUP = "imageGroup"
    IMAGE_SEQUENCE = "imageSequence"
    DICOM_SERIES = "dicomSeries"
    DICOM_FILE = "dicomFile"
    AUDIO = "audio"
    PLAIN_TEXT = "plainText"
    PDF = "pdf"
    NIFTI = "nifti"


# Model types decode straight from the documented spelling of a JSON spec (the
# fast path); other spellings go through accessio.spec.wire.


class VideoMetadata(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """Media metadata of a video, as supplied in a spec."""

    fps: Positive
    duration: Positive
    width: Dimension
    height: Dimension
    file_size: FileSize
    mime_type: MimeType


class ImageMetadata(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, rename="camel"):
    """Media metadata of an image (or of one member of an image group)."""

    mime_type: MimeType
    file_size: FileSize
    width: Dimension
    height: Dimension


class AudioMetadata(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """Media metadata of an audio file."""

    duration: Positive
    file_size: FileSize
    mime_type: MimeType
    sample_rate: Count
    bit_depth: Count
    codec: Codec
    num_channels: Count


class PdfMetadata(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """Media metadata of a PDF document."""

    file_size: FileSize
    num_pages: Count


class TextMetadata(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """Media metadata of a text file."""

    file_size: FileSize
    mime_type: MimeType


class DicomAttribute(msgspec.Struct, frozen=True, gc=False, kw_only=True, rename={"value": "Value"}):
    """One DICOM attribute in the DICOM JSON model (what pydicom's ``to_json_dict`` gives)."""

    vr: str
    value: list[Any] | None = None


class DicomMetadata(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The tags of one DICOM file, keyed by 8 hex digits (``"0020000E"``)."""

    tags: dict[str, DicomAttribute | None]


def default_title(url: str) -> str:
    """The title a unit gets when none is given: the percent-decoded path of its URL.

    >>> default_title("https://b.s3.eu-west-2.amazonaws.com/path/to/video%2023.mp4")
    '/path/to/video 23.mp4'
    """
    scheme_end = url.find("://")
    if scheme_end > 0:
        slash = url.find("/", scheme_end + 3)
        path = url[slash:] if slash >= 0 else ""
        for mark in ("?", "#"):
            cut = path.find(mark)
            if cut >= 0:
                path = path[:cut]
    else:
        path = url
    if "%" in path:
        path = unquote(path)
    return path or url


class _Single(
    msgspec.Struct, frozen=True, gc=False, kw_only=True, forbid_unknown_fields=True, rename="camel", omit_defaults=True
):
    object_url: str
    title: str | None = None
    client_metadata: ClientMetadata | None = None

    item_type: ClassVar[ItemType]

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.object_url,)

    @property
    def display_title(self) -> str:
        return self.title if self.title is not None else default_title(self.object_url)


class Video(_Single, frozen=True, kw_only=True):
    """One video file."""

    video_metadata: VideoMetadata | None = None
    item_type = ItemType.VIDEO


class Image(_Single, frozen=True, kw_only=True):
    """One image file."""

    image_metadata: ImageMetadata | None = None
    item_type = ItemType.IMAGE


class Audio(_Single, frozen=True, kw_only=True):
    """One audio file."""

    audio_metadata: AudioMetadata | None = None
    item_type = ItemType.AUDIO


class PlainText(_Single, frozen=True, kw_only=True):
    """One text file."""

    text_metadata: TextMetadata | None = None
    item_type = ItemType.PLAIN_TEXT


class Pdf(_Single, frozen=True, kw_only=True):
    """One PDF document."""

    pdf_metadata: PdfMetadata | None = None
    item_type = ItemType.PDF


class Nifti(_Single, frozen=True, kw_only=True):
    """One NIfTI volume."""

    item_type = ItemType.NIFTI


class ImageGroup(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Images registered as one unit, in order: an image group, or with
    ``create_video`` an image sequence (its frames encoded into one video)."""

    urls: tuple[str, ...]
    title: str | None = None
    client_metadata: ClientMetadata | None = None
    create_video: bool = False
    member_titles: tuple[str | None, ...] | None = None
    member_metadata: tuple[ImageMetadata | None, ...] | None = None

    @property
    def item_type(self) -> ItemType:
        return ItemType.IMAGE_SEQUENCE if self.create_video else ItemType.IMAGE_GROUP

    @property
    def display_title(self) -> str:
        return self.title if self.title is not None else default_title(self.urls[0])


class DicomSeries(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """DICOM files registered as one series, in order."""

    urls: tuple[str, ...]
    title: str
    client_metadata: ClientMetadata | None = None
    member_titles: tuple[str | None, ...] | None = None
    member_metadata: tuple[DicomMetadata | None, ...] | None = None

    item_type: ClassVar[ItemType] = ItemType.DICOM_SERIES

    @property
    def display_title(self) -> str:
        return self.title


Unit: TypeAlias = Video | Image | Audio | PlainText | Pdf | Nifti | ImageGroup | DicomSeries
SingleUnit: TypeAlias = Video | Image | Audio | PlainText | Pdf | Nifti

SINGLE_UNIT_TYPES: dict[str, type[SingleUnit]] = {
    "videos": Video,
    "images": Image,
    "audio": Audio,
    "text": PlainText,
    "pdf": Pdf,
    "nifti": Nifti,
}
"""The model type of each single-file unit kind."""

UnitKind: TypeAlias = Literal["videos", "images", "image_groups", "dicom_series", "audio", "text", "pdf", "nifti"]
UNIT_KINDS: tuple[UnitKind, ...] = (
    "videos",
    "images",
    "image_groups",
    "dicom_series",
    "audio",
    "text",
    "pdf",
    "nifti",
)

SpecForm: TypeAlias = Literal["json", "structured", "csv"]


@dataclass(frozen=True)
class SpecSource:
    """Where a spec came from, and how to point at one of its units or fields.

    ``keys`` maps each unit kind to the key or header it was read from; for CSV,
    ``lines`` holds each unit's physical line numbers (one per member for groups)
    and ``columns`` the URL and title headers as written.
    """

    name: str = "<spec>"
    form: SpecForm = "json"
    keys: dict[str, str] = field(default_factory=dict)
    lines: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def locate(self, kind: UnitKind, index: int, name: str = "", member: int | None = None) -> str:
        """Location of a unit, or of one field of it (``name`` is the JSON field name;
        ``member`` the position of a group member)."""
        if self.form == "csv":
            lines = self.lines[kind][index]
            line = lines[member] if member is not None and member < len(lines) else lines[0]
            url_col, title_col = self.columns[kind][index]
            column = title_col if name == "title" else url_col
            return f'line {line}, column "{column}"'
        base = f"{self.keys.get(kind, kind)}[{index}]"
        if member is not None:
            if self.form == "structured":
                list_key = "dicomFiles" if kind == "dicom_series" else "images"
                return f"{base}.{list_key}[{member}].{'url' if name == 'objectUrl' else name}"
            return f"{base}.{name}_{member}"
        return f"{base}.{name}" if name else base


@dataclass(eq=True)
class UploadSpec:
    """A parsed, validated upload spec: its units by kind, and its two flags.

    >>> spec = UploadSpec(images=[Image(object_url="s3://bucket/cat.jpg")])
    >>> spec.counts()
    {'image': 1}
    """

    videos: list[Video] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    image_groups: list[ImageGroup] = field(default_factory=list)
    dicom_series: list[DicomSeries] = field(default_factory=list)
    audio: list[Audio] = field(default_factory=list)
    text: list[PlainText] = field(default_factory=list)
    pdf: list[Pdf] = field(default_factory=list)
    nifti: list[Nifti] = field(default_factory=list)
    skip_duplicate_urls: bool = False
    upsert_metadata: bool = False
    source: SpecSource = field(default_factory=SpecSource, compare=False, repr=False)

    def units_of(self, kind: UnitKind) -> list[Any]:
        """The units of one kind, in spec order."""
        units: list[Any] = getattr(self, kind)
        return units

    def units(self) -> Iterator[tuple[UnitKind, int, Unit]]:
        """Every unit with its kind and index, kind by kind in spec order."""
        for kind in UNIT_KINDS:
            for index, unit in enumerate(self.units_of(kind)):
                yield kind, index, unit

    def unit_count(self) -> int:
        """How many units the spec holds (what a job counts)."""
        return sum(len(self.units_of(kind)) for kind in UNIT_KINDS)

    def url_count(self) -> int:
        """How many object URLs the spec holds, group members included."""
        single = sum(len(self.units_of(k)) for k in UNIT_KINDS if k not in GROUP_KINDS)
        grouped = sum(len(g.urls) for g in self.image_groups) + sum(len(s.urls) for s in self.dicom_series)
        return single + grouped

    def counts(self) -> dict[str, int]:
        """Units per item type wire value, only the types present."""
        out: dict[str, int] = {}
        for kind in UNIT_KINDS:
            units = self.units_of(kind)
            if not units:
                continue
            if kind == "image_groups":
                sequences = sum(1 for g in self.image_groups if g.create_video)
                if len(units) - sequences:
                    out[ItemType.IMAGE_GROUP.value] = len(units) - sequences
                if sequences:
                    out[ItemType.IMAGE_SEQUENCE.value] = sequences
            else:
                out[units[0].item_type.value] = len(units)
        return out


GROUP_KINDS = frozenset({"image_groups", "dicom_series"})
