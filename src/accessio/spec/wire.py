"""The JSON shapes a spec may arrive in, as msgspec types.

Both JSON forms decode through these types: the upload file form (``image_groups``
with ``objectUrl_0``...; ``dicom_series``) and the camelCase structured form of
Encord's SDK (``imageGroups`` with ``images[]``; ``dicomSeries`` with
``dicomFiles[]``). The single-file item lists (``videos``, ``images``, ...) are the
same in both. Media metadata objects accept snake_case and camelCase spellings, so
each has both; :mod:`accessio.spec.convert` folds them into the model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from msgspec import UNSET, Meta, Struct, UnsetType

from accessio.spec import model
from accessio.spec.model import Codec, Count, Dimension, FileSize, MimeType, Positive

Title = str
Url = str
ClientMetadataWire: TypeAlias = dict[str, Any]


class _Wire(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


# Media metadata: the first spelling of each field is the model's field order; the
# other spellings follow. The converter relies on that order.


class VideoMetadataWire(_Wire):
    fps: Positive | UnsetType = UNSET
    duration: Positive | UnsetType = UNSET
    width: Dimension | UnsetType = UNSET
    height: Dimension | UnsetType = UNSET
    file_size: FileSize | UnsetType = UNSET
    mime_type: MimeType | UnsetType = UNSET
    fileSize: FileSize | UnsetType = UNSET  # noqa: N815
    mimeType: MimeType | UnsetType = UNSET  # noqa: N815


class ImageMetadataWire(_Wire):
    mimeType: MimeType | UnsetType = UNSET  # noqa: N815
    fileSize: FileSize | UnsetType = UNSET  # noqa: N815
    width: Dimension | UnsetType = UNSET
    height: Dimension | UnsetType = UNSET
    mime_type: MimeType | UnsetType = UNSET
    file_size: FileSize | UnsetType = UNSET


class AudioMetadataWire(_Wire):
    duration: Positive | UnsetType = UNSET
    file_size: FileSize | UnsetType = UNSET
    mime_type: MimeType | UnsetType = UNSET
    sample_rate: Count | UnsetType = UNSET
    bit_depth: Count | UnsetType = UNSET
    codec: Codec | UnsetType = UNSET
    num_channels: Count | UnsetType = UNSET
    duration_seconds: Positive | UnsetType = UNSET
    durationSeconds: Positive | UnsetType = UNSET  # noqa: N815
    fileSize: FileSize | UnsetType = UNSET  # noqa: N815
    mimeType: MimeType | UnsetType = UNSET  # noqa: N815
    sampleRate: Count | UnsetType = UNSET  # noqa: N815
    bitDepth: Count | UnsetType = UNSET  # noqa: N815
    numChannels: Count | UnsetType = UNSET  # noqa: N815


class PdfMetadataWire(_Wire):
    file_size: FileSize | UnsetType = UNSET
    num_pages: Count | UnsetType = UNSET
    fileSize: FileSize | UnsetType = UNSET  # noqa: N815
    numPages: Count | UnsetType = UNSET  # noqa: N815


class TextMetadataWire(_Wire):
    file_size: FileSize | UnsetType = UNSET
    mime_type: MimeType | UnsetType = UNSET
    fileSize: FileSize | UnsetType = UNSET  # noqa: N815
    mimeType: MimeType | UnsetType = UNSET  # noqa: N815


DicomTag = Annotated[str, Meta(pattern="^[0-9A-Fa-f]{8}$")]


class DicomAttributeWire(Struct, kw_only=True, rename={"value": "Value"}):
    # DICOM JSON may carry BulkDataURI or InlineBinary too; they are not needed here
    vr: Annotated[str, Meta(pattern="^[A-Z]{2}$")]
    value: list[Any] | None = None


class DicomMetadataWire(_Wire):
    tags: dict[DicomTag, DicomAttributeWire | None]


# Single-file items, shared by both forms.


class _SingleWire(_Wire, rename="camel"):
    object_url: Url
    title: Title | None = None
    client_metadata: ClientMetadataWire | None = None
    placeholder_item_uuid: str | None = None


class VideoWire(_SingleWire, rename="camel"):
    video_metadata: VideoMetadataWire | None = None
    create_video: bool = False
    external_file_type: Literal["VIDEO"] | None = None


class ImageWire(_SingleWire, rename="camel"):
    image_metadata: ImageMetadataWire | None = None
    create_video: bool = False
    external_file_type: Literal["IMAGE"] | None = None


class AudioWire(_SingleWire, rename="camel"):
    audio_metadata: AudioMetadataWire | None = None
    external_file_type: Literal["AUDIO"] | None = None


class TextWire(_SingleWire, rename="camel"):
    text_metadata: TextMetadataWire | None = None
    external_file_type: Literal["PLAIN_TEXT"] | None = None


class PdfWire(_SingleWire, rename="camel"):
    pdf_metadata: PdfMetadataWire | None = None
    external_file_type: Literal["PDF"] | None = None


class NiftiWire(_SingleWire, rename="camel"):
    external_file_type: Literal["NIFTI"] | None = None


# Structured-form groups.


class GroupImageWire(_Wire, rename="camel"):
    url: Url
    title: Title | None = None
    image_metadata: ImageMetadataWire | None = None
    placeholder_item_uuid: str | None = None


class ImageGroupWire(_Wire, rename="camel"):
    images: list[GroupImageWire]
    title: Title | None = None
    client_metadata: ClientMetadataWire | None = None
    create_video: bool = False
    external_file_type: Literal["IMG_GROUP"] | None = None
    cluster_by_resolution: bool = False


class DicomFileWire(_Wire, rename="camel"):
    url: Url
    title: Title | None = None
    dicom_metadata: DicomMetadataWire | None = None
    placeholder_item_uuid: str | None = None


class DicomSeriesWire(_Wire, rename="camel"):
    dicom_files: list[DicomFileWire]
    title: Title | None = None
    client_metadata: ClientMetadataWire | None = None
    external_file_type: Literal["DICOM"] | None = None


# Upload-form groups carry numbered keys (objectUrl_0, objectUrl_1, ...), which no
# fixed type can hold: they decode as objects and are checked key by key.
UploadGroupWire: TypeAlias = dict[str, Any]

# The fields an upload-form group may carry besides its numbered keys.
UPLOAD_GROUP_FIELDS: dict[str, Any] = {
    "title": Title | None,
    "clientMetadata": ClientMetadataWire | None,
    "createVideo": bool,
}
UPLOAD_GROUP_MEMBER_FIELDS: dict[str, dict[str, Any]] = {
    "image_groups": {"objectUrl": Url, "imageMetadata": ImageMetadataWire | None},
    "dicom_series": {"objectUrl": Url, "dicomMetadata": DicomMetadataWire | None},
}


class DocumentWire(_Wire):
    """The top level of either JSON form."""

    videos: list[VideoWire] | None = None
    audio: list[AudioWire] | None = None
    images: list[ImageWire] | None = None
    text: list[TextWire] | None = None
    pdf: list[PdfWire] | None = None
    pdfs: list[PdfWire] | None = None
    nifti: list[NiftiWire] | None = None
    image_groups: list[UploadGroupWire] | None = None
    dicom_series: list[UploadGroupWire] | None = None
    imageGroups: list[ImageGroupWire] | None = None  # noqa: N815
    dicomSeries: list[DicomSeriesWire] | None = None  # noqa: N815
    imageGroupsFromItems: list[Any] | None = None  # noqa: N815
    skip_duplicate_urls: bool | None = None
    upsert_metadata: bool | None = None
    skipDuplicateUrls: bool | None = None  # noqa: N815
    upsertMetadata: bool | None = None  # noqa: N815


class DocumentModelWire(_Wire):
    """The top level when every single-file item is in its documented spelling: those
    items decode straight into model units, with nothing left to fold."""

    videos: list[model.Video] | None = None
    audio: list[model.Audio] | None = None
    images: list[model.Image] | None = None
    text: list[model.PlainText] | None = None
    pdf: list[model.Pdf] | None = None
    pdfs: list[model.Pdf] | None = None
    nifti: list[model.Nifti] | None = None
    image_groups: list[UploadGroupWire] | None = None
    dicom_series: list[UploadGroupWire] | None = None
    imageGroups: list[ImageGroupWire] | None = None  # noqa: N815
    dicomSeries: list[DicomSeriesWire] | None = None  # noqa: N815
    imageGroupsFromItems: list[Any] | None = None  # noqa: N815
    skip_duplicate_urls: bool | None = None
    upsert_metadata: bool | None = None
    skipDuplicateUrls: bool | None = None  # noqa: N815
    upsertMetadata: bool | None = None  # noqa: N815


# Which list keys hold which unit kind; several spellings may name one kind.
LIST_KEYS: dict[str, str] = {
    "videos": "videos",
    "audio": "audio",
    "images": "images",
    "text": "text",
    "pdf": "pdf",
    "pdfs": "pdf",
    "nifti": "nifti",
    "image_groups": "image_groups",
    "imageGroups": "image_groups",
    "dicom_series": "dicom_series",
    "dicomSeries": "dicom_series",
}
STRUCTURED_KEYS = frozenset({"imageGroups", "dicomSeries", "skipDuplicateUrls", "upsertMetadata"})
UPLOAD_KEYS = frozenset({"image_groups", "dicom_series", "skip_duplicate_urls", "upsert_metadata", "pdfs"})
