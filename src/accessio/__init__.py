"""Accessio: register data that lives in object storage into a searchable catalog.

>>> import accessio
>>> accessio.parse_spec(b'{"videos": [{"objectUrl": "s3://bucket/v.mp4"}]}').counts()
{'video': 1}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accessio.errors import AccessioError, SpecError, SpecInvalid, SpecUnreadable, UrlNotUnderstood

if TYPE_CHECKING:
    from accessio.spec import Issue, Limits, UploadSpec, load_spec, parse_spec, write_json

__version__ = "0.1.0"

# The spec's names load on first use: ``accessio --help`` (which imports this package)
# does not pay for the spec parser.
_FROM_SPEC = frozenset({"Issue", "Limits", "UploadSpec", "load_spec", "parse_spec", "write_json"})


def __getattr__(name: str) -> Any:
    if name in _FROM_SPEC:
        import accessio.spec  # noqa: PLC0415

        return getattr(accessio.spec, name)
    raise AttributeError(f"module 'accessio' has no attribute {name!r}")


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
