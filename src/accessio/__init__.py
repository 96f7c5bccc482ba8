"""Accessio: register data that lives in object storage into a searchable catalog.

>>> import accessio
>>> accessio.parse_spec(b'{"videos": [{"objectUrl": "s3://bucket/v.mp4"}]}').counts()
{'video': 1}
"""

from accessio.errors import AccessioError, SpecError, SpecInvalid, SpecUnreadable, UrlNotUnderstood
from accessio.spec import Issue, Limits, UploadSpec, load_spec, parse_spec, write_json

__version__ = "0.1.0"

__all__ = [
    "AccessioError",
    "Issue",
    "Limits",
    "SpecError",
    "SpecInvalid",
    "SpecUnreadable",
    "UploadSpec",
    "UrlNotUnderstood",
    "__version__",
    "load_spec",
    "parse_spec",
    "write_json",
]
