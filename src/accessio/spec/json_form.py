"""Read a JSON spec, either form, fast when it is sound and thoroughly when it is not.

The fast path decodes straight into the wire types (msgspec, garbage collector
paused) while :mod:`~accessio.spec.jsonscan` checks keys, depth and URL strings on
the other core; it then folds wire items into units. The first sign of trouble sends
the spec down the thorough path (:mod:`~accessio.spec.document`), which decodes it
generically and checks every item field by field, so that every issue is reported
at once. Both paths build units with the same converters and the same rules.
"""

from __future__ import annotations

import codecs
import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from accessio.errors import SpecInvalid
from accessio.spec import convert, document, model, wire
from accessio.spec.check import Rejected
from accessio.spec.issues import Code, Issue, IssueList, line_column
from accessio.spec.jsonscan import ScanResult, ScanThread, scan
from accessio.spec.limits import DEFAULT_LIMITS, Limits
from accessio.spec.rules import flag_issues, limit_issues, unit_issues

_DECODERS = (msgspec.json.Decoder(wire.DocumentModelWire), msgspec.json.Decoder(wire.DocumentWire))
_BOM = b"\xef\xbb\xbf"
_THREADED_SCAN_BYTES = 1 << 20
_BYTE = re.compile(r"\(byte (\d+)\)")


class _Thorough(Exception):
    """The fast path met something it does not judge; the thorough path will."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Decoding builds millions of objects and no cycles: collections would only
    # rescan them over and over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_json(data: bytes | str, *, name: str = "<spec>", limits: Limits = DEFAULT_LIMITS) -> model.UploadSpec:
    """Parse and validate a JSON spec (upload file form or structured form).

    Raises :class:`~accessio.errors.SpecInvalid` listing every issue.

    >>> parse_json(b'{"videos": [{"objectUrl": "s3://b/v.mp4"}]}').counts()
    {'video': 1}
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SpecInvalid(
                name, [Issue("$", Code.ENCODING, f"the text is not valid Unicode: {exc.reason}")]
            ) from None
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    scanner = (
        ScanThread(data, limits.max_depth, limits.max_url_bytes, limits.max_title_chars, limits.max_issues)
        if len(data) >= _THREADED_SCAN_BYTES
        else None
    )
    with _gc_paused():
        doc: wire.DocumentModelWire | wire.DocumentWire | None = None
        for decoder in _DECODERS:
            try:
                doc = decoder.decode(data)
                break
            except msgspec.ValidationError as exc:
                # The second decoder only differs in the keys it accepts (other
                # spellings, SDK-only keys): for a bad value it would fail the same.
                if not str(exc).startswith(("Object contains unknown field", "Object missing required field")):
                    break
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
                found = scanner.result() if scanner else _scan(data, limits)
                raise SpecInvalid(name, [_undecodable(data, exc, found)]) from None
        found = scanner.result() if scanner else _scan(data, limits)
        if found.too_deep_at is not None:
            raise SpecInvalid(name, [_too_deep(data, found.too_deep_at, limits)])
        if doc is not None:
            try:
                spec = _fast(doc, name, urls_are_strings=found.suspects == 0)
            except (Rejected, _Thorough):
                spec = None
            if spec is not None:
                issues = _fast_issues(spec, found, limits)
                if issues:
                    raise SpecInvalid(name, issues.first(), issues.total)
                return spec
        try:
            return document.parse_object(
                _items_raw(data),
                name=name,
                limits=limits,
                duplicates=found.duplicates,
                duplicate_count=found.duplicate_count,
                metadata_sizes=_sizes_unknown(found, limits),
                depth_checked=True,
            )
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
            # raw items are only decoded (and their text checked) one by one
            raise SpecInvalid(name, [_undecodable(data, exc, found)]) from None


_TOP_RAW = msgspec.json.Decoder(dict[str, msgspec.Raw])
_LIST_RAW = msgspec.json.Decoder(list[msgspec.Raw] | None)


def _items_raw(data: bytes) -> Any:
    """The document with each item left as raw JSON text: the thorough path decodes
    every item straight into its type, and only a failing item into plain values."""
    _check_utf8(data)  # raw items skip the text check the decoder makes
    try:
        top = _TOP_RAW.decode(data)
    except msgspec.ValidationError:
        return msgspec.json.decode(data)  # not an object: the thorough path says so
    out: dict[str, Any] = {}
    for key, value in top.items():
        try:
            out[key] = _LIST_RAW.decode(value) if key in wire.LIST_KEYS else msgspec.json.decode(value)
        except msgspec.ValidationError:
            out[key] = msgspec.json.decode(value)
    return out


def _check_utf8(data: bytes, chunk: int = 1 << 24) -> None:
    """Raise UnicodeDecodeError unless ``data`` is UTF-8, a chunk at a time."""
    if data.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        decoder.decode(view[start : start + chunk])
    decoder.decode(b"", final=True)


def _scan(data: bytes, limits: Limits) -> ScanResult:
    return scan(data, limits.max_depth, limits.max_url_bytes, limits.max_title_chars, limits.max_issues)


def _fast(doc: wire.DocumentModelWire | wire.DocumentWire, name: str, *, urls_are_strings: bool) -> model.UploadSpec:
    if doc.imageGroupsFromItems is not None:
        raise _Thorough
    pairs = (
        (doc.pdf, doc.pdfs),
        (doc.image_groups, doc.imageGroups),
        (doc.dicom_series, doc.dicomSeries),
        (doc.skip_duplicate_urls, doc.skipDuplicateUrls),
        (doc.upsert_metadata, doc.upsertMetadata),
    )
    if any(a is not None and b is not None for a, b in pairs):
        raise _Thorough
    structured = any(
        v is not None for v in (doc.imageGroups, doc.dicomSeries, doc.skipDuplicateUrls, doc.upsertMetadata)
    )
    keys: dict[str, str] = {}
    spec = model.UploadSpec(
        skip_duplicate_urls=bool(doc.skip_duplicate_urls or doc.skipDuplicateUrls),
        upsert_metadata=bool(doc.upsert_metadata or doc.upsertMetadata),
    )
    single = (
        ("videos", "videos", doc.videos),
        ("images", "images", doc.images),
        ("audio", "audio", doc.audio),
        ("text", "text", doc.text),
        ("nifti", "nifti", doc.nifti),
        ("pdf", "pdf", doc.pdf),
        ("pdf", "pdfs", doc.pdfs),
    )
    for kind, key, items in single:
        if items:
            keys[kind] = key
            if isinstance(doc, wire.DocumentModelWire):
                setattr(spec, kind, items)  # decoded straight into units
            else:
                build = convert.SINGLE[kind][1]
                setattr(spec, kind, [build(item) for item in items])
    if doc.image_groups:
        keys["image_groups"] = "image_groups"
        spec.image_groups.extend(
            [convert.upload_group(g, "image_groups", urls_are_strings) for g in doc.image_groups]  # type: ignore[misc]
        )
    if doc.imageGroups:
        keys["image_groups"] = "imageGroups"
        spec.image_groups.extend([convert.structured_group(g) for g in doc.imageGroups])
    if doc.dicom_series:
        keys["dicom_series"] = "dicom_series"
        spec.dicom_series.extend(
            [convert.upload_group(s, "dicom_series", urls_are_strings) for s in doc.dicom_series]  # type: ignore[misc]
        )
    if doc.dicomSeries:
        keys["dicom_series"] = "dicomSeries"
        spec.dicom_series.extend([convert.structured_series(s) for s in doc.dicomSeries])
    spec.source = model.SpecSource(name=name, form="structured" if structured else "json", keys=keys)
    return spec


def _fast_issues(spec: model.UploadSpec, found: ScanResult, limits: Limits) -> IssueList:
    structural = IssueList(limits.max_issues)
    structural.extend(limit_issues(spec.unit_count(), spec.url_count(), limits))
    if structural:
        return structural
    issues = IssueList(limits.max_issues, document.order_of(spec.source.keys.values()))
    issues.extend(document.duplicate_issue(path) for _, path in found.duplicates)
    issues.count_more(found.duplicate_count - len(found.duplicates))
    # Item objects sit at depth 2; none larger than the limit means no client
    # metadata inside one can be either.
    sizes = _sizes_unknown(found, limits)
    if found.suspects != 0 or sizes:
        issues.extend(unit_issues(spec.units(), spec.source.locate, limits, metadata_sizes=sizes))
    flags = "upsert_metadata" if spec.source.form == "json" else "upsertMetadata"
    issues.extend(flag_issues(spec.skip_duplicate_urls, spec.upsert_metadata, flags))
    if not spec.unit_count():
        issues.append(document.empty_issue())
    return issues


def _sizes_unknown(found: ScanResult, limits: Limits) -> bool:
    """Whether client metadata sizes need measuring: item objects sit at depth 2, and
    none larger than the limit means no client metadata inside one can be either."""
    item_span = found.spans[2] if found.spans is not None and len(found.spans) > 2 else None
    return item_span is None or item_span > limits.max_client_metadata_bytes


def _undecodable(data: bytes, exc: Exception, found: ScanResult) -> Issue:
    if found.too_deep_at is not None or isinstance(exc, RecursionError):
        return _too_deep(data, found.too_deep_at or 0, None)
    if isinstance(exc, UnicodeDecodeError):
        try:
            data.decode("utf-8")
            offset = 0
        except UnicodeDecodeError as full:
            offset = full.start
        line, column = line_column(data, offset)
        return Issue(f"line {line}, column {column}", Code.ENCODING, "the spec is not UTF-8 text")
    text = str(exc)
    match = _BYTE.search(text)
    offset = int(match.group(1)) if match else len(data)
    line, column = line_column(data, offset)
    where = f"line {line}, column {column}"
    if not data.strip():
        return Issue(where, Code.JSON_SYNTAX, 'the spec is empty; a JSON spec is an object such as {"images": [...]}')
    head = data[offset : offset + 9]
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        if head.startswith(token):
            return Issue(
                where,
                Code.JSON_NON_FINITE,
                f"{token.decode()} is not a JSON number; standard JSON has no NaN or Infinity",
            )
    if head.startswith((b"//", b"/*")):
        return Issue(where, Code.JSON_SYNTAX, "JSON has no comments")
    detail = text.split(": ", 1)[-1]
    detail = _BYTE.sub("", detail).strip()
    return Issue(where, Code.JSON_SYNTAX, f"malformed JSON: {detail}")


def _too_deep(data: bytes, offset: int, limits: Limits | None) -> Issue:
    line, column = line_column(data, offset)
    limit = (limits or DEFAULT_LIMITS).max_depth
    return Issue(f"line {line}, column {column}", Code.JSON_TOO_DEEP, f"the JSON nests deeper than {limit} levels")
