"""The value rules of the metadata schema: what a client metadata value must be for
each type, and the names and wording the schema's messages use.

Each ``*_problem`` function answers ``None`` for a valid value, else a short reason
("a string", "9,000 characters, more than 8,192") that follows the shown value in a
message. Nothing is ever coerced: ``"12"`` is not a number, ``1`` is not ``true``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date

import msgspec

VARCHAR_MAX = 8192  # characters; Encord's SDK gives varchar the same bound
KEY_MAX = 255  # characters: the catalog's key column
ENUM_MAX = 255
EMBEDDING_MAX = 4096
RESERVED_KEYS = frozenset({"keyframes"})
_KEY_PUNCTUATION = frozenset(" -_.")
_SHOWN_MAX = 60

_DATETIME = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[Tt ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,][0-9]{1,9})?)?"
    r"(?:[Zz]|[+-](?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?)?"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def key_problem(key: object) -> str | None:
    """Why ``key`` cannot be a schema key, or ``None`` when it can."""
    if not isinstance(key, str):
        return "a key must be a string"
    if not key:
        return "a key must not be empty"
    if key.startswith("$"):
        return "keys starting with '$' are reserved"
    if len(key) > KEY_MAX:
        return f"a key has at most {KEY_MAX} characters, this one {len(key):,}"
    odd = next((c for c in key if not c.isalnum() and c not in _KEY_PUNCTUATION), None)
    if odd is not None:
        return f"{odd!r} is not allowed in a key (letters, digits, space, '-', '_' and '.' only)"
    if not any(c.isalnum() for c in key):
        return "a key needs at least one letter or digit"
    if key in RESERVED_KEYS:
        return "the key is reserved"
    return None


def kind(value: object) -> str:
    """What a value is, in JSON words: "a string", "a number", "a null"..."""
    if value is None:
        return "a null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a Python {type(value).__name__}"


def shown(value: object) -> str:
    """A value as JSON, cut to a readable length."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no spelling for it
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError):
        text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_problem(value: object) -> str | None:
    if not _is_number(value):
        return kind(value)
    try:
        finite = math.isfinite(float(value))  # type: ignore[arg-type]
    except OverflowError:
        return "out of the range of a 64-bit float"
    return None if finite else "not finite"


def varchar_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return kind(value)
    if len(value) > VARCHAR_MAX:
        return f"{len(value):,} characters, more than {VARCHAR_MAX:,}"
    return None


def text_problem(value: object) -> str | None:
    return None if isinstance(value, str) else kind(value)


def boolean_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else kind(value)


def datetime_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return kind(value)
    match = _DATETIME.fullmatch(value)
    if match is None:
        return "not an ISO 8601 date or date-time"
    try:
        date(int(match["y"]), int(match["mo"]), int(match["d"]))
    except ValueError:
        return "not a calendar date"
    bounds = (("h", 23), ("mi", 59), ("s", 59), ("oh", 23), ("om", 59))
    if any(match[part] is not None and int(match[part]) > most for part, most in bounds):
        return "a time or offset out of range"
    return None


def uuid_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return kind(value)
    return None if _UUID.fullmatch(value) else "not a UUID in 8-4-4-4-12 hex form"


SCALAR_CHECKS = {
    "number": number_problem,
    "varchar": varchar_problem,
    "text": text_problem,
    "boolean": boolean_problem,
    "datetime": datetime_problem,
    "uuid": uuid_problem,
}


def enum_problem(options: Sequence[str], value: object) -> str | None:
    if not isinstance(value, str):
        return kind(value)
    if value in options:
        return None
    folded = value.casefold()
    if any(option.casefold() == folded for option in options):
        return "not an option; options are case-sensitive"
    return "not an option"


def embedding_problem(size: int, value: object) -> str | None:
    if not isinstance(value, list | tuple):
        return kind(value)
    if len(value) != size:
        return f"{len(value):,} numbers"
    for index, number in enumerate(value):
        problem = number_problem(number)
        if problem is not None:
            return f"item {index} is {problem}"
    return None


def geospatial_problem(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return kind(value)
    extra = sorted(str(k) for k in value if k not in ("latitude", "longitude"))
    if extra:
        return f"unknown key {extra[0]!r}: only latitude and longitude"
    for name, most in (("latitude", 90), ("longitude", 180)):
        if name not in value:
            return f"no {name}"
        number = value[name]
        problem = number_problem(number)
        if problem is not None:
            return f"{name} is {problem}"
        if not -most <= number <= most:
            return f"{name} {number} is outside -{most}..{most}"
    return None
