"""Errors of the catalog: what a lookup or a write can refuse."""

from __future__ import annotations

from accessio.errors import AccessioError


class NotFound(AccessioError):
    """A folder, item, integration or job that does not exist (or that the caller may not see)."""

    status = 404
    code = "not_found"

    def __init__(self, what: str, key: str, hint: str = "") -> None:
        super().__init__(f"{what} {key!r} not found{hint}")
        self.what = what
        self.key = key
        self.hint = hint


class AmbiguousId(AccessioError):
    """An id prefix that more than one folder, item or job starts with."""

    status = 400
    code = "ambiguous_id"

    def __init__(self, what: str, prefix: str) -> None:
        super().__init__(f"more than one {what} id starts with {prefix!r}: give more of it")
        self.what = what
        self.prefix = prefix


class AlreadyExists(AccessioError):
    """A folder or integration name that is taken."""

    status = 409
    code = "exists"

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} already exists")
        self.what = what
        self.key = key


class InvalidName(AccessioError):
    """A folder path or integration name that breaks the naming rules."""

    status = 400
    code = "invalid_name"
