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
    """The spec was read and holds issues: ``issues`` lists the first ones in file order
    (all of them up to ``Limits.max_issues``), ``total`` counts every one."""

    code = "spec.invalid"

    def __init__(self, source: str, issues: Sequence[Issue], total: int | None = None) -> None:
        total = len(issues) if total is None else max(total, len(issues))
        first = f": {issues[0].location}: {issues[0].message}" if issues else ""
        more = f" (and {total - 1:,} more)" if total > 1 else ""
        super().__init__(f"{source} is not a valid upload spec{first}{more}")
        self.source = source
        self.issues: tuple[Issue, ...] = tuple(issues)  # the first ones, in file order (Limits.max_issues)
        self.total = total  # every issue found: more than len(issues) when the list was cut

    @property
    def truncated(self) -> bool:
        """Whether issues were found beyond those in ``issues``."""
        return self.total > len(self.issues)


class UrlNotUnderstood(AccessioError):
    """An object URL that matches no storage provider's form."""

    status = 400
    code = "url.not_understood"

    def __init__(self, url: str, reason: str) -> None:
        shown = url if len(url) <= 200 else url[:200] + "…"
        super().__init__(f"{shown!r} is not an object URL Accessio understands: {reason}")
        self.url = url
        self.reason = reason
