"""What is wrong with a spec: located issues with stable codes.

Locations read like the input they point at: ``images[12].imageMetadata.width`` in a
JSON spec, ``line 41, column "ObjectUrl"`` in a CSV spec, ``line 3, column 17`` for a
JSON syntax error.

However many issues a spec holds, what is kept of them is bounded (:class:`IssueList`):
the first ``Limits.max_issues`` in file order, and a count of all of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

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


_LOCATION_MOST = 300
_MESSAGE_MOST = 500


def _bounded(issue: Issue) -> Issue:
    """The issue with a location and message short enough to show (an issue about a
    20,000-character key does not carry the key whole)."""
    location, message = issue.location, issue.message
    if len(location) <= _LOCATION_MOST and len(message) <= _MESSAGE_MOST:
        return issue
    if len(location) > _LOCATION_MOST:
        location = location[:200] + "…" + location[-99:]
    if len(message) > _MESSAGE_MOST:
        message = message[: _MESSAGE_MOST - 1] + "…"
    return Issue(location, issue.code, message)


class IssueList:
    """The first ``keep`` issues in file order (by ``order``), and how many there are in all.

    Memory stays bounded however many issues are added: past ``2 * keep`` kept, the list
    is sorted (stably, so equal places keep the order they were found in) and cut back
    to ``keep``; from then on an issue that sorts after the last one kept is only
    counted. That leaves the same first ``keep`` as sorting them all would. Without
    ``order``, issues arrive in file order: the first ``keep`` are kept.

    >>> found = IssueList(2)
    >>> found.extend(Issue(f"images[{i}]", "url.empty", "the object URL is empty") for i in range(5))
    >>> [i.location for i in found.first()], found.total
    (['images[0]', 'images[1]'], 5)
    """

    def __init__(self, keep: int, order: Callable[[Issue], Any] | None = None) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        self.keep = keep
        self.total = 0
        self._order = order
        self._kept: list[tuple[Any, Issue]] = []
        self._cutoff: Any = None  # the place of the last issue kept, once the list was cut

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total

    def append(self, issue: Issue) -> None:
        self.total += 1
        if self._order is None:
            if len(self._kept) < self.keep:
                self._kept.append((None, _bounded(issue)))
            return
        place = self._order(issue)
        if self._cutoff is not None and place >= self._cutoff:
            return
        self._kept.append((place, _bounded(issue)))
        if len(self._kept) >= 2 * self.keep:
            self._trim()

    def extend(self, issues: Iterable[Issue]) -> None:
        for issue in issues:
            self.append(issue)

    def count_more(self, count: int) -> None:
        """Count ``count`` issues that were found but not added (they come after those added)."""
        self.total += count

    def _trim(self) -> None:
        if self._order is None:
            return
        self._kept.sort(key=lambda kept: kept[0])
        if len(self._kept) >= self.keep:
            del self._kept[self.keep :]
            self._cutoff = self._kept[-1][0]

    def first(self) -> list[Issue]:
        """The first ``keep`` issues, in file order."""
        self._trim()
        return [issue for _, issue in self._kept]
