"""Upload specs: JSON (upload file or structured form) and CSV, read into one model.

>>> from accessio.spec import parse_spec
>>> parse_spec(b'{"images": [{"objectUrl": "s3://bucket/cat.jpg"}]}').counts()
{'image': 1}
"""

from accessio.spec.csv_form import parse_csv
from accessio.spec.document import parse_object
from accessio.spec.issues import Code, Issue
from accessio.spec.json_form import parse_json
from accessio.spec.limits import DEFAULT_LIMITS, Limits
from accessio.spec.load import load_spec, parse_spec, sniff_format
from accessio.spec.model import (
    Audio,
    AudioMetadata,
    ClientMetadata,
    DicomAttribute,
    DicomMetadata,
    DicomSeries,
    Image,
    ImageGroup,
    ImageMetadata,
    ItemType,
    Nifti,
    Pdf,
    PdfMetadata,
    PlainText,
    SpecSource,
    TextMetadata,
    Unit,
    UploadSpec,
    Video,
    VideoMetadata,
    default_title,
)
from accessio.spec.writer import spec_to_object, write_json

__all__ = [
    "DEFAULT_LIMITS",
    "Audio",
    "AudioMetadata",
    "ClientMetadata",
    "Code",
    "DicomAttribute",
    "DicomMetadata",
    "DicomSeries",
    "Image",
    "ImageGroup",
    "ImageMetadata",
    "Issue",
    "ItemType",
    "Limits",
    "Nifti",
    "Pdf",
    "PdfMetadata",
    "PlainText",
    "SpecSource",
    "TextMetadata",
    "Unit",
    "UploadSpec",
    "Video",
    "VideoMetadata",
    "default_title",
    "load_spec",
    "parse_csv",
    "parse_json",
    "parse_object",
    "parse_spec",
    "sniff_format",
    "spec_to_object",
    "write_json",
]
