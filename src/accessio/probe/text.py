"""Plain text: whether the first block is text at all, its encoding and its mime type.

Text has no header, so the first block decides: a byte order mark names the
encoding; otherwise the bytes must decode as UTF-8 (a character cut at the end of the
block is allowed) or read as a single-byte Western encoding with almost no control
characters. NUL bytes mean binary. The mime type is ``text/plain`` unless the text
plainly says it is HTML, XML or JSON: a whole file in the block must parse; a longer
one's first block must be a well-formed start of a JSON document (its tokens valid and
its brackets matched up to where the block cuts it).
"""

from __future__ import annotations

import codecs
import json
import re

from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
)
_CONTROL_OK = frozenset(b"\t\n\r\x0c\x1b")
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_JSON_TOKEN = re.compile(
    r'\s*(?:"(?:[^"\\\x00-\x1f]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|[{}\[\]:,])'
)


def text_encoding(head: bytes, *, complete: bool) -> str | None:
    """The encoding of ``head`` if it is text, else None (``complete``: the head is the whole file).

    >>> text_encoding("café\\n".encode(), complete=True)
    'utf-8'
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if b"\x00" in head:
        return None
    controls = sum(1 for byte in head if byte < 0x20 and byte not in _CONTROL_OK)
    if controls > len(head) // 100:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return "iso-8859-1" if _CP1252_UNDEFINED.intersection(head) else "windows-1252"
    return "ascii" if head.isascii() else "utf-8"


def text_mime(head: bytes, encoding: str, *, complete: bool) -> str:
    """The mime type of text: HTML, XML and JSON when they say so, else plain text."""
    if encoding.startswith(("utf-16", "utf-32")):
        return "text/plain"
    start = head.lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:64].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if start.startswith(b"<?xml"):
        return "application/xml"
    if start[:1] in (b"{", b"["):
        decoded = head.decode(encoding if encoding != "ascii" else "utf-8", errors="ignore")
        if complete:
            try:
                json.loads(decoded)
            except ValueError:
                return "text/plain"
            return "application/json"
        return "application/json" if _json_prefix(decoded) else "text/plain"
    return "text/plain"


def _json_prefix(text: str) -> bool:
    """Whether the text is the well-formed start of a JSON document cut anywhere (a token may be cut at the end)."""
    stack: list[str] = []
    pos = 0
    text = text.lstrip("\ufeff")
    while pos < len(text):
        match = _JSON_TOKEN.match(text, pos)
        if match is None:
            rest = text[pos:].lstrip()  # only a token cut by the block's end may fail to match
            cut_string = rest.startswith('"') and '"' not in rest[1:].replace('\\"', "")
            cut_word = len(rest) < 32 and re.fullmatch(r"-?[\d.eE+-]*|t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?", rest)
            return bool(stack) and bool(cut_string or cut_word)
        token = match.group().lstrip()
        if token in ("{", "["):
            stack.append("}" if token == "{" else "]")
        elif token in ("}", "]"):
            if not stack or stack.pop() != token:
                return False
            if not stack:
                return not text[match.end() :].strip()
        pos = match.end()
    return bool(stack)


def probe_text(src: Source, mime: str) -> MediaInfo:
    """Encoding and mime type of a text file whose type sniffing found to be ``mime``."""
    head = src.head()
    encoding = text_encoding(head, complete=len(head) == src.size)
    return MediaInfo(kind=Kind.TEXT, mime_type=mime, file_size=src.size, encoding=encoding)
