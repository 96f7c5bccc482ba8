"""What is wrong with a spec: located issues with stable codes.

Locations read like the input they point at: ``images[12].imageMetadata.width`` in a
JSON spec, ``line 41, column "ObjectUrl"`` in a CSV spec, ``line 3, column 17`` for a
JSON syntax error.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import StrEnum

import msgspec


class Code(StrEnum):
    """Stable issue codes: scripts match on these, so they never change meaning."""

    JSON_SYNTAX = "json.syntax"
    JSON_NON_FINITE = "json.non_finite"
    JSON_DUPLICATE_KEY = "json.duplicate_key"
    JSON_TOO_DEEP = "json.too_deep"
    ENCODING = "spec.encoding"
    SHAPE = "spec.shape"
    EMPTY = "spec.empty"
    UNKNOWN_KEY = "spec.unknown_key"
    CONFLICT = "spec.conflict"
    FLAGS = "spec.flags"
    LIMIT_URLS = "limit.urls"
    LIMIT_UNITS = "limit.units"
    MISSING = "field.missing"
    TYPE = "field.type"
    RANGE = "field.range"
    URL_EMPTY = "url.empty"
    URL_WHITESPACE = "url.whitespace"
    URL_CONTROL = "url.control"
    URL_TOO_LONG = "url.too_long"
    TITLE_EMPTY = "title.empty"
    TITLE_TOO_LONG = "title.too_long"
    TITLE_MISSING = "title.missing"
    METADATA_TOO_LARGE = "metadata.too_large"
    POSITIONS = "group.positions"
    CREATE_VIDEO = "field.create_video"
    FILE_TYPE = "field.external_file_type"
    UNSUPPORTED = "spec.unsupported"
    TYPE_MISMATCH = "type.mismatch"
    CSV_HEADER = "csv.header"
    CSV_ROW = "csv.row"
    CSV_GROUP = "csv.group"


class Issue(msgspec.Struct, frozen=True):
    """One problem in a spec: where it is, a stable code, and what is wrong."""

    location: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A `` (did you mean "x"?)`` suffix when ``word`` is close to one of ``choices``."""
    options = list(choices)
    folded = {c.lower().replace("_", ""): c for c in options}
    key = word.lower().replace("_", "")
    if key in folded:
        return f' (did you mean "{folded[key]}"?)'
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def line_column(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset in UTF-8 text."""
    offset = max(0, min(offset, len(data)))
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def preview(value: object, limit: int = 60) -> str:
    """A short, safe rendering of a user value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
