"""Every error Accessio raises, in one tree.

    AccessioError                 status 500, code "accessio"
    ├── SpecError                 a spec that cannot be used
    │   ├── SpecUnreadable        400  the file cannot be read or decoded at all
    │   └── SpecInvalid           400  the spec was read; it holds one or more issues
    └── UrlNotUnderstood          400  an object URL no provider form matches

Each class carries its HTTP status and a stable code, so the API and the CLI render
them the same way. Per-unit failures during a job are data, never exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from accessio.spec.issues import Issue


class AccessioError(Exception):
    """Root of every error Accessio raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "accessio"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(AccessioError):
    """A spec that cannot be used."""

    status = 400
    code = "spec"


class SpecUnreadable(SpecError):
    """The spec file cannot be opened or is not text of the expected form."""

    code = "spec.unreadable"

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class SpecInvalid(SpecError):
    """The spec was read and holds issues; ``issues`` lists every one, in file order."""

    code = "spec.invalid"

    def __init__(self, source: str, issues: Sequence[Issue]) -> None:
        count = len(issues)
        first = f": {issues[0].location}: {issues[0].message}" if issues else ""
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"{source} is not a valid upload spec{first}{more}")
        self.source = source
        self.issues: tuple[Issue, ...] = tuple(issues)


class UrlNotUnderstood(AccessioError):
    """An object URL that matches no storage provider's form."""

    status = 400
    code = "url.not_understood"

    def __init__(self, url: str, reason: str) -> None:
        shown = url if len(url) <= 200 else url[:200] + "…"
        super().__init__(f"{shown!r} is not an object URL Accessio understands: {reason}")
        self.url = url
        self.reason = reason
