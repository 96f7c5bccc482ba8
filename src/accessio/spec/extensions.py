"""What a file name's extension says about its media type.

A fixed table rather than :mod:`mimetypes`, whose answers depend on the machine's
``/etc/mime.types``: a spec must validate the same everywhere. Content, once probed,
has the last word; the extension is only a first guess.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from accessio.spec.model import ItemType

MIME_TYPES: dict[str, str] = {
    # video
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".ts": "video/mp2t",
    ".mts": "video/mp2t",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".wmv": "video/x-ms-wmv",
    ".flv": "video/x-flv",
    ".3gp": "video/3gpp",
    ".ogv": "video/ogg",
    # image
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    # audio
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/opus",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".wma": "audio/x-ms-wma",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    # documents and text
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".xml": "application/xml",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    # medical
    ".dcm": "application/dicom",
    ".dicom": "application/dicom",
    ".nii": "application/x-nifti",
    ".nii.gz": "application/x-nifti-gz",
}

_KINDS: dict[str, ItemType] = {"video": ItemType.VIDEO, "image": ItemType.IMAGE, "audio": ItemType.AUDIO}
_OTHER: dict[str, ItemType] = {
    "application/pdf": ItemType.PDF,
    "application/dicom": ItemType.DICOM_FILE,
    "application/x-nifti": ItemType.NIFTI,
    "application/x-nifti-gz": ItemType.NIFTI,
}


def guess_mime_type(url: str) -> str | None:
    """The media type a URL's file extension suggests, if it suggests one.

    >>> guess_mime_type("s3://bucket/scans/brain.nii.gz")
    'application/x-nifti-gz'
    """
    try:
        path = unquote(urlsplit(url).path).lower()
    except ValueError:
        return None
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".nii.gz"):
        return MIME_TYPES[".nii.gz"]
    dot = name.rfind(".")
    return MIME_TYPES.get(name[dot:]) if dot > 0 else None


def item_type_of(mime_type: str) -> ItemType | None:
    """The single-file item type a media type belongs to (``text/*`` is plain text)."""
    if mime_type in _OTHER:
        return _OTHER[mime_type]
    major = mime_type.split("/", 1)[0]
    if major == "text" or mime_type in (
        "application/json",
        "application/jsonl",
        "application/xml",
        "application/x-subrip",
    ):
        return ItemType.PLAIN_TEXT
    return _KINDS.get(major)
