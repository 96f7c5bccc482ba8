"""Check a decoded JSON value against a wire type and report every problem in it.

msgspec stops at the first error of a value; users want all of them at once, each
with its path. This walks objects field by field (using the same wire types the fast
decoder uses, so the two can never disagree on a rule) and lets msgspec judge the
leaves.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple, Union, get_args, get_origin

import msgspec
from msgspec import UnsetType

from accessio.spec.issues import Code, did_you_mean, preview


class Problem(NamedTuple):
    """A problem inside one item: ``path`` is relative to the item (``"imageMetadata.width"``)."""

    path: str
    code: Code
    message: str


class Rejected(Exception):
    """An item that cannot become a unit; carries every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message if problems else "rejected")
        self.problems = problems


_AT = re.compile(r" - at `\$(.*)`$")
_NONE_TYPES = (type(None), UnsetType)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


@cache
def _fields(struct: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    return {f.encode_name: f for f in msgspec.structs.fields(struct)}


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """The one non-null type of an optional, and whether null is allowed."""
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        rest = [a for a in args if a not in _NONE_TYPES]
        nullable = type(None) in args
        if len(rest) == 1:
            return rest[0], nullable
        return Union[tuple(rest)], nullable  # noqa: UP007 - built at run time
    return tp, False


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def check_value(value: Any, tp: Any, path: str, problems: list[Problem]) -> None:
    """Append every problem of ``value`` as an instance of ``tp`` to ``problems``."""
    inner, nullable = _unwrap(tp)
    if value is None and nullable:
        return
    if _is_struct(inner):
        if isinstance(value, dict):
            check_object(value, inner, path, problems)
        else:
            problems.append(Problem(path, Code.TYPE, f"expected an object, got {_kind(value)}"))
        return
    if get_origin(inner) is list and isinstance(value, list):
        (item_type,) = get_args(inner)
        if _is_struct(_unwrap(item_type)[0]):
            for index, item in enumerate(value):
                check_value(item, item_type, f"{path}[{index}]", problems)
            return
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        problems.append(_from_msgspec(exc, value, path))


def check_object(
    value: dict[str, Any],
    struct: type[msgspec.Struct],
    path: str,
    problems: list[Problem],
    *,
    extra: Callable[[str], bool] | None = None,
) -> None:
    """Check each field of an object; unknown keys get a "did you mean" hint.

    ``extra`` accepts keys the type does not name (they are the caller's to check).
    """
    fields = _fields(struct)
    for key, item in value.items():
        info = fields.get(key)
        if info is None:
            if extra is None or not extra(key):
                hint = did_you_mean(key, fields)
                problems.append(Problem(_join(path, key), Code.UNKNOWN_KEY, f"unknown key {key!r}{hint}"))
            continue
        if key == "externalFileType" and item is not None:
            expected = get_args(_unwrap(info.type)[0])
            if item not in expected:
                problems.append(
                    Problem(
                        _join(path, key),
                        Code.FILE_TYPE,
                        f"externalFileType {preview(item)} does not match this list, which holds {expected[0]!r} items",
                    )
                )
            continue
        check_value(item, info.type, _join(path, key), problems)
    for name, info in fields.items():
        if info.required and name not in value:
            problems.append(Problem(_join(path, name), Code.MISSING, f"missing required key {name!r}"))


def _from_msgspec(exc: msgspec.ValidationError, value: Any, path: str) -> Problem:
    text = str(exc)
    match = _AT.search(text)
    if match:
        text = text[: match.start()]
        suffix = match.group(1)
        path = path + suffix if suffix.startswith("[") else _join(path, suffix.lstrip("."))
    code = Code.TYPE if ", got `" in text or text.startswith("Expected `object`") else Code.RANGE
    message = text[0].lower() + text[1:]
    if code is Code.RANGE or "got `" not in text:
        message = f"{message}, got {preview(value)}"
    return Problem(path, code, message)
