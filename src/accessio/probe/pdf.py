"""PDF page count from the end of the file: ``startxref``, the cross-reference, the catalog, ``/Count``.

The trailer at the end names the catalog (``/Root``); the cross-reference section
gives each object's offset, so the catalog and the page tree root are each one
positioned read, and ``/Count`` of the root is the page count. Classic tables are
not read whole: their entries are 20 bytes each, so an object's entry is computed
from its subsection and read alone. Cross-reference streams (PDF 1.5) are inflated
(bounded) and objects inside object streams are reached through them. Incremental
updates chain sections by ``/Prev``; a loop in that chain is corrupt.

When ``startxref`` is missing or points at nothing (a broken file), the whole file is
scanned for the page tree root, but only if it fits the probe's byte budget.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from accessio.probe.errors import ProbeCorrupt, ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.pdf_syntax import Indirect, Name, NeedMore, PdfObject, Ref, parse_indirect, parse_object
from accessio.probe.source import Source

MAX_SECTIONS = 64
MAX_WINDOW = 4 * 1024 * 1024
MAX_INFLATED = 32 * 1024 * 1024
MAX_PAGES = 10_000_000
_STARTXREF = re.compile(rb"startxref\s+(\d+)")
_OBJECT_HEAD = re.compile(rb"(\d+)\s+(\d+)\s+obj\b")
T = TypeVar("T")


class _Broken(Exception):
    """The cross-reference cannot be followed; the caller may scan instead."""


@dataclass
class _Table:
    """A classic section: subsections of fixed-size entries, read one entry at a time."""

    subsections: list[tuple[int, int, int]]
    trailer: dict[str, PdfObject]


@dataclass
class _Stream:
    """A cross-reference stream, inflated: rows of ``widths`` bytes for the object numbers in ``index``."""

    rows: bytes
    widths: tuple[int, int, int]
    index: list[tuple[int, int]]
    trailer: dict[str, PdfObject]


@dataclass
class _Document:
    src: Source
    sections: list[_Table | _Stream] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    object_streams: dict[int, tuple[bytes, list[tuple[int, int]]]] = field(default_factory=dict)


def probe_pdf(src: Source) -> MediaInfo:
    """The page count of a PDF."""
    try:
        count = _count_from_xref(src)
    except _Broken as exc:
        count = _count_by_scanning(src, str(exc))
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_PAGES:
        raise src.corrupt(f"PDF: the page tree's /Count is {count!r}")
    return MediaInfo(kind=Kind.PDF, mime_type="application/pdf", file_size=src.size, num_pages=count)


def _count_from_xref(src: Source) -> PdfObject:
    start = max(0, (src.size - 1024) // src.limits.head_size * src.limits.head_size)
    tail = src.read(start, src.size - start)
    found = list(_STARTXREF.finditer(tail))
    if not found:
        raise _Broken("no startxref at the end of the file")
    offset = int(found[-1].group(1))
    if not 0 < offset < src.size:
        raise _Broken(f"startxref points to byte {offset}, outside the file")
    doc = _Document(src, pending=[offset])
    _load_next(doc)
    trailer = doc.sections[0].trailer
    if "Encrypt" in trailer and "Root" not in trailer:
        raise ProbeUnsupported("PDF: encrypted, with no readable trailer")
    catalog = _resolve(doc, trailer.get("Root"))
    if not isinstance(catalog, dict):
        raise src.corrupt("PDF: the trailer's /Root is not a dictionary")
    pages = _resolve(doc, catalog.get("Pages"))
    if not isinstance(pages, dict):
        raise src.corrupt("PDF: the catalog's /Pages is not a dictionary")
    return _resolve(doc, pages.get("Count"))


def _resolve(doc: _Document, value: PdfObject) -> PdfObject:
    if not isinstance(value, Ref):
        return value
    index = 0
    while True:
        while index >= len(doc.sections):
            if not doc.pending:
                return None
            _load_next(doc)
        entry = _lookup(doc, doc.sections[index], value.num)
        if entry is not None:
            kind, first, second = entry
            if kind == 1:
                return _object_at(doc, first, value.num).value
            if kind == 2:
                return _from_object_stream(doc, first, second, value.num)
            return None
        index += 1


def _load_next(doc: _Document) -> None:
    src, offset = doc.src, doc.pending.pop(0)
    if offset in doc.seen:
        raise src.corrupt("PDF: the cross-reference sections loop (/Prev)")
    if len(doc.seen) >= MAX_SECTIONS:
        raise src.corrupt(f"PDF: more than {MAX_SECTIONS} cross-reference sections")
    doc.seen.add(offset)
    try:
        section = _table(src, offset) if src.read(offset, 4) == b"xref" else _xref_stream(doc, offset)
    except ProbeCorrupt as exc:
        raise _Broken(exc.message.removeprefix("PDF: ")) from exc
    doc.sections.append(section)
    for key in ("XRefStm", "Prev"):
        target = section.trailer.get(key)
        if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < src.size:
            doc.pending.append(target)


def _table(src: Source, offset: int) -> _Table:
    pos = offset + 4
    subsections: list[tuple[int, int, int]] = []
    for _ in range(100_000):
        line = src.read(pos, 64)
        match = re.match(rb"\s*(\d+)\s+(\d+)[ \t]*(\r\n|\r|\n)", line)
        if match is None:
            break
        first, count = int(match.group(1)), int(match.group(2))
        subsections.append((first, count, pos + match.end()))
        pos += match.end() + 20 * count
    window = src.read(pos, 64)
    at = window.find(b"trailer")
    if at < 0:
        raise src.corrupt(f"PDF: no trailer after the cross-reference table at byte {offset}")
    trailer = _parsed(src, pos + at + 7, lambda data: parse_object(data, 0)[0])
    if not isinstance(trailer, dict):
        raise src.corrupt("PDF: the trailer is not a dictionary")
    return _Table(subsections, trailer)


def _xref_stream(doc: _Document, offset: int) -> _Stream:
    src = doc.src
    obj = _object_at(doc, offset, None)
    info = obj.value
    if not isinstance(info, dict) or info.get("Type") != Name("XRef") or obj.stream_at is None:
        raise src.corrupt(f"PDF: byte {offset} holds neither a cross-reference table nor stream")
    widths = info.get("W")
    size = info.get("Size")
    if not (isinstance(widths, list) and len(widths) == 3 and all(isinstance(w, int) and 0 <= w <= 8 for w in widths)):
        raise src.corrupt("PDF: the cross-reference stream's /W is malformed")
    if not isinstance(size, int):
        raise src.corrupt("PDF: the cross-reference stream has no /Size")
    raw_index = info.get("Index", [0, size])
    if not isinstance(raw_index, list) or len(raw_index) % 2 or not all(isinstance(n, int) for n in raw_index):
        raise src.corrupt("PDF: the cross-reference stream's /Index is malformed")
    index = [(int(raw_index[i]), int(raw_index[i + 1])) for i in range(0, len(raw_index), 2)]  # type: ignore[arg-type]
    w = (int(widths[0]), int(widths[1]), int(widths[2]))  # type: ignore[arg-type]
    expected = sum(count for _, count in index) * sum(w)
    rows = _stream_data(doc, info, obj.stream_at, expected)
    return _Stream(rows, w, index, info)


def _lookup(doc: _Document, section: _Table | _Stream, num: int) -> tuple[int, int, int] | None:
    """(type, field 2, field 3) of object ``num`` in a section: type 1 offset/gen, 2 stream/index, 0 free."""
    if isinstance(section, _Table):
        for first, count, at in section.subsections:
            if first <= num < first + count:
                entry = doc.src.read(at + 20 * (num - first), 20)
                match = re.match(rb"(\d{10}) (\d{5}) ([nf])", entry)
                if match is None:
                    raise _Broken(f"the cross-reference entry of object {num} is malformed")
                kind = 1 if match.group(3) == b"n" else 0
                return kind, int(match.group(1)), int(match.group(2))
        return None
    row_size = sum(section.widths)
    row = 0
    for first, count in section.index:
        if first <= num < first + count:
            at = (row + num - first) * row_size
            data = section.rows[at : at + row_size]
            if len(data) < row_size:
                return None
            fields, pos = [], 0
            for width in section.widths:
                fields.append(int.from_bytes(data[pos : pos + width], "big"))
                pos += width
            kind = fields[0] if section.widths[0] else 1
            return kind, fields[1], fields[2]
        row += count
    return None


def _object_at(doc: _Document, offset: int, num: int | None) -> Indirect:
    if not 0 <= offset < doc.src.size:
        raise _Broken(f"an object's offset {offset} is outside the file")
    try:
        found = _parsed(doc.src, offset, parse_indirect)
    except ProbeCorrupt as exc:
        raise _Broken(exc.message.removeprefix("PDF: ")) from exc
    if num is not None and found.num != num:
        raise _Broken(f"the cross-reference says object {num} is at byte {offset}, where object {found.num} is")
    stream_at = None if found.stream_at is None else offset + found.stream_at
    return Indirect(found.num, found.value, stream_at)


def _from_object_stream(doc: _Document, stream_num: int, index: int, num: int) -> PdfObject:
    if stream_num not in doc.object_streams:
        if "Encrypt" in doc.sections[0].trailer:
            raise ProbeUnsupported("PDF: encrypted, with the page tree in a compressed object stream")
        holder = _resolve_indirect(doc, stream_num)
        info = holder.value
        if not isinstance(info, dict) or holder.stream_at is None:
            raise doc.src.corrupt(f"PDF: object stream {stream_num} is not a stream")
        count, first = info.get("N"), info.get("First")
        if not isinstance(count, int) or not isinstance(first, int) or count < 0 or first < 0:
            raise doc.src.corrupt(f"PDF: object stream {stream_num} has no /N or /First")
        data = _stream_data(doc, info, holder.stream_at, None)
        numbers = [int(n) for n in re.findall(rb"\d+", data[:first])[: 2 * count]]
        pairs = [(numbers[i], numbers[i + 1] + first) for i in range(0, len(numbers) - 1, 2)]
        doc.object_streams[stream_num] = (data, pairs)
    data, pairs = doc.object_streams[stream_num]
    for object_num, at in pairs[index : index + 1] + pairs:
        if object_num == num:
            try:
                return parse_object(data, at)[0]
            except NeedMore:
                raise doc.src.corrupt(f"PDF: object {num} is cut off in its object stream") from None
    raise doc.src.corrupt(f"PDF: object {num} is not in object stream {stream_num}")


def _resolve_indirect(doc: _Document, num: int) -> Indirect:
    for section in doc.sections:
        entry = _lookup(doc, section, num)
        if entry is not None and entry[0] == 1:
            return _object_at(doc, entry[1], num)
    raise doc.src.corrupt(f"PDF: object stream {num} is not in the cross-reference")


def _stream_data(doc: _Document, info: dict[str, PdfObject], at: int, expected: int | None) -> bytes:
    length = info.get("Length")
    if isinstance(length, Ref):
        length = _resolve(doc, length)
    if not isinstance(length, int) or not 0 <= length <= MAX_INFLATED:
        raise doc.src.corrupt(f"PDF: a stream's /Length is {length!r}")
    raw = doc.src.exact(at, length, "a PDF stream")
    filters = info.get("Filter")
    names = filters if isinstance(filters, list) else [filters] if filters is not None else []
    if names != [Name("FlateDecode")]:
        if not names:
            return raw
        raise ProbeUnsupported(f"PDF: an index stream with filter {names!r}")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, MAX_INFLATED)
    except zlib.error as exc:
        raise doc.src.corrupt(f"PDF: an index stream does not inflate ({exc})") from exc
    if inflater.unconsumed_tail:
        raise doc.src.too_large(f"PDF: an index stream inflates past {MAX_INFLATED:,} bytes")
    params = info.get("DecodeParms")
    if isinstance(params, dict) and isinstance(params.get("Predictor"), int) and int(params["Predictor"]) >= 10:  # type: ignore[arg-type]
        columns = params.get("Columns", 1)
        data = _png_up(data, int(columns) if isinstance(columns, int) else 1)
    if expected is not None and len(data) < expected:
        raise doc.src.corrupt("PDF: the cross-reference stream is shorter than its /Index says")
    return data


def _png_up(data: bytes, columns: int) -> bytes:
    """Undo the PNG predictors cross-reference streams use (almost always Up)."""
    if columns < 1:
        raise ProbeCorrupt("PDF: a predictor with no columns")
    out = bytearray()
    previous = bytearray(columns)
    for at in range(0, len(data) - columns, columns + 1):
        kind, row = data[at], bytearray(data[at + 1 : at + 1 + columns])
        if kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous, strict=False))
        elif kind == 1:
            for i in range(1, len(row)):
                row[i] = (row[i] + row[i - 1]) & 0xFF
        elif kind != 0:
            raise ProbeUnsupported(f"PDF: PNG predictor {kind} in a cross-reference stream")
        out += row
        previous = row
    return bytes(out)


def _parsed(src: Source, offset: int, parse: Callable[[bytes], T]) -> T:
    window = 4096
    while True:
        data = src.read(offset, window)
        try:
            return parse(data)
        except NeedMore:
            if offset + len(data) >= src.size or window >= MAX_WINDOW:
                raise src.corrupt(f"PDF: the object at byte {offset} is cut off") from None
            window *= 4


def _count_by_scanning(src: Source, reason: str) -> PdfObject:
    if src.size > src.limits.max_bytes - src.bytes_asked:
        raise src.corrupt(f"PDF: {reason}, and the file is too large to scan for its pages")
    data = src.read(0, src.size)
    for match in _OBJECT_HEAD.finditer(data):
        src.check_time()
        try:
            value, _ = parse_object(data, match.end())
        except (NeedMore, ProbeCorrupt):
            continue
        if isinstance(value, dict) and value.get("Type") == Name("Pages") and "Parent" not in value:
            return value.get("Count")
    raise src.corrupt(f"PDF: {reason}, and no page tree root was found by scanning")
