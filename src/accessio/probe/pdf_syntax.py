"""PDF object syntax: enough of a parser for dictionaries, arrays, references and numbers.

Probing needs the trailer, the cross-reference streams, the catalog and the page
tree root: dictionaries of names, numbers and references. Strings are parsed (to step
over them) but kept raw. Nesting is bounded, and running off the end of the buffer
raises :class:`NeedMore` so the caller can read a larger window and try again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from accessio.probe.errors import ProbeCorrupt

MAX_DEPTH = 32
WHITESPACE = b"\x00\t\n\x0c\r "
DELIMITERS = b"()<>[]{}/%"
_NUMBER = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)")
_INT = re.compile(rb"\d+")
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")


class NeedMore(Exception):
    """The object runs past the end of the bytes given (not corrupt: read a larger window)."""


@dataclass(frozen=True)
class Ref:
    """An indirect reference ``num gen R``."""

    num: int
    gen: int


@dataclass(frozen=True)
class Name:
    """A name object (``/Pages`` is ``Name("Pages")``)."""

    value: str


PdfObject: TypeAlias = "int | float | bool | bytes | Name | Ref | list[PdfObject] | dict[str, PdfObject] | None"


@dataclass(frozen=True)
class Indirect:
    """An indirect object: its number, its value, and where its stream's bytes start (if it has one)."""

    num: int
    value: PdfObject
    stream_at: int | None


def skip_space(data: bytes, pos: int) -> int:
    while pos < len(data):
        byte = data[pos]
        if byte in WHITESPACE:
            pos += 1
        elif byte == 0x25:  # % comment to end of line
            while pos < len(data) and data[pos] not in b"\r\n":
                pos += 1
        else:
            return pos
    return pos


def parse_object(data: bytes, pos: int, depth: int = 0) -> tuple[PdfObject, int]:
    """The object at ``pos`` and the position after it."""
    if depth > MAX_DEPTH:
        raise ProbeCorrupt(f"PDF: objects nested more than {MAX_DEPTH} deep")
    pos = skip_space(data, pos)
    if pos >= len(data):
        raise NeedMore
    byte = data[pos : pos + 1]
    if data.startswith(b"<<", pos):
        return _dictionary(data, pos + 2, depth)
    if byte == b"[":
        items: list[PdfObject] = []
        pos += 1
        while True:
            pos = skip_space(data, pos)
            if pos >= len(data):
                raise NeedMore
            if data[pos : pos + 1] == b"]":
                return items, pos + 1
            item, pos = parse_object(data, pos, depth + 1)
            items.append(item)
    if byte == b"/":
        match = _REGULAR.match(data, pos + 1)
        assert match is not None
        return Name(match.group().decode("latin-1")), match.end()
    if byte == b"(":
        return _literal_string(data, pos + 1)
    if byte == b"<":
        end = data.find(b">", pos)
        if end < 0:
            raise NeedMore
        return data[pos + 1 : end], end + 1
    number = _NUMBER.match(data, pos)
    if number is not None:
        return _number_or_ref(data, number)
    word = _REGULAR.match(data, pos)
    assert word is not None
    token = word.group()
    if word.end() >= len(data):
        raise NeedMore
    if token in (b"true", b"false"):
        return token == b"true", word.end()
    if token == b"null":
        return None, word.end()
    raise ProbeCorrupt(f"PDF: unexpected {token[:20]!r} where an object should be")


def parse_indirect(data: bytes, pos: int = 0) -> Indirect:
    """The indirect object ``num gen obj ... endobj`` at ``pos``."""
    header = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj\b").match(data, pos)
    if header is None:
        if len(data) - pos < 32:
            raise NeedMore
        raise ProbeCorrupt("PDF: no object where the cross-reference points")
    value, end = parse_object(data, header.end())
    end = skip_space(data, end)
    stream_at = None
    if data.startswith(b"stream", end):
        stream_at = end + 6
        if data.startswith(b"\r\n", stream_at):
            stream_at += 2
        elif data[stream_at : stream_at + 1] in (b"\n", b"\r"):
            stream_at += 1
    elif end + 6 > len(data):
        raise NeedMore
    return Indirect(int(header.group(1)), value, stream_at)


def _dictionary(data: bytes, pos: int, depth: int) -> tuple[dict[str, PdfObject], int]:
    result: dict[str, PdfObject] = {}
    while True:
        pos = skip_space(data, pos)
        if pos >= len(data):
            raise NeedMore
        if data.startswith(b">>", pos):
            return result, pos + 2
        key, pos = parse_object(data, pos, depth + 1)
        if not isinstance(key, Name):
            raise ProbeCorrupt("PDF: a dictionary key is not a name")
        value, pos = parse_object(data, pos, depth + 1)
        result[key.value] = value


def _literal_string(data: bytes, pos: int) -> tuple[bytes, int]:
    start, level = pos, 1
    while pos < len(data):
        byte = data[pos]
        if byte == 0x5C:  # backslash escapes the next byte
            pos += 2
            continue
        if byte == 0x28:
            level += 1
        elif byte == 0x29:
            level -= 1
            if level == 0:
                return data[start:pos], pos + 1
        pos += 1
    raise NeedMore


def _number_or_ref(data: bytes, number: re.Match[bytes]) -> tuple[PdfObject, int]:
    text, end = number.group(), number.end()
    if end >= len(data):
        raise NeedMore
    if b"." in text:
        return float(text), end
    value = int(text)
    # "num gen R" is a reference: look ahead for a second integer and R.
    after = skip_space(data, end)
    gen = _INT.match(data, after)
    if gen is not None and after > end:
        after_gen = skip_space(data, gen.end())
        if after_gen + 1 >= len(data):
            raise NeedMore
        if data[after_gen : after_gen + 1] == b"R" and data[after_gen + 1 : after_gen + 2] not in _REGULAR_CONT:
            return Ref(value, int(gen.group())), after_gen + 1
    return value, end


_REGULAR_CONT = [bytes([b]) for b in range(256) if b not in WHITESPACE and b not in DELIMITERS]
