"""Read a CSV spec (SPEC section 3) into the model, every issue located by line and column.

A header row (first cell ``ObjectUrl``) opens a section; its title column decides
the type of the rows under it. Rows of image groups and DICOM series gather by title
across the file, in row order. Line numbers are physical lines, so a quoted cell
spanning several lines does not shift the ones after it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from accessio.errors import SpecInvalid
from accessio.spec import model
from accessio.spec.extensions import guess_mime_type, item_type_of
from accessio.spec.issues import Code, Issue, IssueList, did_you_mean, line_column
from accessio.spec.limits import DEFAULT_LIMITS, Limits
from accessio.spec.rules import limit_issues, unit_issues

TITLE_HEADERS: dict[str, model.UnitKind] = {
    "video title": "videos",
    "image title": "images",
    "image group title": "image_groups",
    "series title": "dicom_series",
    "dicom title": "dicom_series",
    "audio title": "audio",
    "pdf title": "pdf",
    "text title": "text",
    "nifti title": "nifti",
}
URL_HEADERS = frozenset({"objecturl"})
CREATE_VIDEO = "create video"
_KNOWN = [
    "ObjectUrl",
    "Video title",
    "Image title",
    "Image group title",
    "Create video",
    "Series title",
    "Dicom title",
    "Audio title",
    "PDF title",
    "Text title",
    "NIfTI title",
]


@dataclass
class _Section:
    line: int
    kind: model.UnitKind
    legacy: bool  # the single-column form: every row is a video
    url_header: str
    title_col: int | None
    title_header: str
    create_col: int | None
    create_header: str
    width: int


@dataclass
class _Pending:
    """A unit being gathered from rows: a group or series collects several."""

    kind: model.UnitKind
    urls: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    title: str | None = None
    create_video: bool = False
    columns: tuple[str, str] = ("ObjectUrl", "")


def parse_csv(data: bytes | str, *, name: str = "<spec>", limits: Limits = DEFAULT_LIMITS) -> model.UploadSpec:
    """Parse and validate a CSV spec.

    >>> parse_csv("ObjectUrl,Image title\\ns3://b/cat.jpg,Cat\\n").counts()
    {'image': 1}
    """
    text = _text(data, name)
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, 4 * limits.max_url_bytes + 1024))
    issues = IssueList(limits.max_issues, _line_of)
    try:
        pending = _read(text, name, issues)
    finally:
        csv.field_size_limit(previous)
    urls = sum(len(p.urls) for p in pending)
    structural = list(limit_issues(len(pending), urls, limits))
    if structural:
        raise SpecInvalid(name, structural)
    spec, found = _build(pending, name)
    issues.extend(unit_issues(found, spec.source.locate, limits, metadata_sizes=False))
    if not pending and not issues:
        issues.append(Issue("$", Code.EMPTY, "the spec holds no rows of object URLs"))
    if issues:
        raise SpecInvalid(name, issues.first(), issues.total)
    return spec


NOT_UTF8_CSV = 'the spec is not UTF-8 text; save it as "CSV UTF-8" (a choice of the spreadsheet\'s Save As)'


def _text(data: bytes | str, name: str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = line_column(data, exc.start)
        raise SpecInvalid(name, [Issue(f"line {line}, column {column}", Code.ENCODING, NOT_UTF8_CSV)]) from None


def _not_a_header(row: list[str]) -> str:
    """Why the first row is not a header row, naming the fix when it is one with another delimiter."""
    for delimiter, named in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        cells = row[0].split(delimiter)
        if len(cells) > 1 and cells[0].strip().lower() in URL_HEADERS:
            return (
                f"the header row is separated by {named}; the delimiter of a CSV spec is a comma "
                "(export the sheet as CSV with commas)"
            )
    return "the first row must be a header row starting with ObjectUrl"


def _line_of(issue: Issue) -> int:
    parts = issue.location.split(",", 1)[0].split()
    return int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0


def _read(text: str, name: str, issues: IssueList) -> list[_Pending]:
    pending: list[_Pending] = []
    groups: dict[tuple[str, str], _Pending] = {}
    section: _Section | None = None
    seen_header = False
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    consumed = 0
    while True:
        start = consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise SpecInvalid(name, [Issue(f"line {reader.line_num}", Code.CSV_ROW, f"malformed CSV: {exc}")]) from None
        consumed = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if row[0].strip().lower() in URL_HEADERS:
            section = _header(row, start, issues)
            seen_header = True
            continue
        if not seen_header:
            issues.append(not_a_header(start, row))
            raise SpecInvalid(name, issues.first(), issues.total)
        _row(row, start, section, pending, groups, issues)
    return pending


def not_a_header(line: int, row: list[str]) -> Issue:
    """The issue of a CSV spec whose first row is not a header row."""
    return Issue(f"line {line}", Code.CSV_HEADER, _not_a_header(row))


def first_row_issue(text: str, *, whole: bool) -> Issue | None:
    """What is wrong with the first row of a CSV spec, judged on its first lines only:
    ``text`` is the start of the file (all of it when ``whole``), so that a file that is
    no CSV spec is refused before the rest is read. ``None``: no fault seen so far."""
    if not whole:
        text = text[: text.rfind("\n") + 1]  # complete lines only: a cut row could look like anything
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    consumed = 0
    try:
        for row in reader:
            start, consumed = consumed + 1, reader.line_num
            if any(cell.strip() for cell in row):
                return None if row[0].strip().lower() in URL_HEADERS else not_a_header(start, row)
    except csv.Error:
        return None  # the whole parse says where and what
    if whole:
        return None
    return Issue(
        f"line {consumed + 1}",
        Code.CSV_HEADER,
        "the first row must be a header row starting with ObjectUrl; the first 64 KiB hold no complete row",
    )


def _header(row: list[str], line: int, issues: IssueList) -> _Section | None:
    names = [cell.strip() for cell in row]
    while len(names) > 1 and not names[-1]:
        names.pop()  # trailing empty header cells, as spreadsheets write them
    title_col = create_col = None
    seen: set[str] = set()
    bad = False
    for col, cell in enumerate(names[1:], start=1):
        folded = cell.lower()
        if folded in seen or (folded in TITLE_HEADERS and title_col is not None):
            issues.append(
                Issue(
                    f'line {line}, column "{cell}"',
                    Code.CSV_HEADER,
                    "a section has one title column and one Create video column at most",
                )
            )
            bad = True
        elif folded in TITLE_HEADERS:
            title_col = col
        elif folded == CREATE_VIDEO:
            create_col = col
        else:
            hint = did_you_mean(cell, _KNOWN)
            issues.append(Issue(f'line {line}, column "{cell}"', Code.CSV_HEADER, f"unknown column {cell!r}{hint}"))
            bad = True
        seen.add(folded)
    if bad:
        return None
    if title_col is None and create_col is not None:
        issues.append(
            Issue(
                f'line {line}, column "{names[create_col]}"',
                Code.CSV_HEADER,
                "a Create video column needs a title column (Image group title) beside it",
            )
        )
        return None
    kind: model.UnitKind = TITLE_HEADERS[names[title_col].lower()] if title_col is not None else "videos"
    return _Section(
        line=line,
        kind=kind,
        legacy=title_col is None,
        url_header=names[0],
        title_col=title_col,
        title_header=names[title_col] if title_col is not None else "",
        create_col=create_col,
        create_header=names[create_col] if create_col is not None else "",
        width=len(names),
    )


def _row(
    row: list[str],
    line: int,
    section: _Section | None,
    pending: list[_Pending],
    groups: dict[tuple[str, str], _Pending],
    issues: IssueList,
) -> None:
    if section is None:
        return  # its header was wrong, and said so
    if any(cell.strip() for cell in row[section.width :]):
        issues.append(
            Issue(f"line {line}", Code.CSV_ROW, f"this row has {len(row)} cells but its header has {section.width}")
        )
        return
    cells = row + [""] * (section.width - len(row))
    url = cells[0]
    where_url = f'line {line}, column "{section.url_header}"'
    if not url.strip():
        issues.append(Issue(where_url, Code.URL_EMPTY, "the object URL is empty"))
        return
    title = cells[section.title_col].strip() if section.title_col is not None else ""
    create = _create_video(cells, line, section, issues)
    if create is None:
        return
    if section.legacy:
        mime = guess_mime_type(url)
        found = item_type_of(mime) if mime else None
        if mime and found is not model.ItemType.VIDEO:
            issues.append(Issue(where_url, Code.TYPE_MISMATCH, f"Expected a video, got a file of type {mime}"))
            return
    columns = (section.url_header, section.title_header)
    kind = section.kind
    if kind == "image_groups":
        if not title:
            issues.append(
                Issue(
                    f'line {line}, column "{section.title_header}"',
                    Code.TITLE_MISSING,
                    "an image group row needs a title: rows with the same title form one group",
                )
            )
            return
        group = groups.get((kind, title))
        if group is None:
            group = groups[(kind, title)] = _Pending(kind, title=title, create_video=create, columns=columns)
            pending.append(group)
        elif group.create_video != create:
            issues.append(
                Issue(
                    f'line {line}, column "{section.create_header or section.title_header}"',
                    Code.CSV_GROUP,
                    f"the group {title!r} was opened on line {group.lines[0]} with Create video "
                    f"{str(group.create_video).lower()}; all its rows must agree",
                )
            )
            return
        group.urls.append(url)
        group.lines.append(line)
        return
    if kind == "dicom_series" and title:
        series = groups.get((kind, title))
        if series is None:
            series = groups[(kind, title)] = _Pending(kind, title=title, columns=columns)
            pending.append(series)
        series.urls.append(url)
        series.lines.append(line)
        return
    pending.append(_Pending(kind, urls=[url], lines=[line], title=title or None, columns=columns))


def _create_video(cells: list[str], line: int, section: _Section, issues: IssueList) -> bool | None:
    raw = cells[section.create_col].strip().lower() if section.create_col is not None else ""
    is_group = section.kind == "image_groups"
    if raw == "":
        return is_group  # blank means an image sequence under Image group title
    if raw in ("true", "false") and (is_group or raw == "false"):
        return raw == "true"
    where = f'line {line}, column "{section.create_header}"'
    if raw == "true":
        issues.append(
            Issue(
                where,
                Code.CREATE_VIDEO,
                "Create video can only be true for image groups; leave it blank or write false",
            )
        )
    else:
        issues.append(
            Issue(
                where,
                Code.CREATE_VIDEO,
                f"Create video must be true, false or blank, not {cells[section.create_col or 0].strip()!r}",
            )
        )
    return None


def _build(pending: list[_Pending], name: str) -> tuple[model.UploadSpec, list[tuple[model.UnitKind, int, Any]]]:
    spec = model.UploadSpec()
    lines: dict[str, list[tuple[int, ...]]] = {}
    columns: dict[str, list[tuple[str, str]]] = {}
    found: list[tuple[model.UnitKind, int, Any]] = []
    for unit in pending:
        units = spec.units_of(unit.kind)
        built: model.Unit
        if unit.kind == "image_groups":
            built = model.ImageGroup(urls=tuple(unit.urls), title=unit.title, create_video=unit.create_video)
        elif unit.kind == "dicom_series":
            title = unit.title if unit.title is not None else model.default_title(unit.urls[0])
            built = model.DicomSeries(urls=tuple(unit.urls), title=title)
        else:
            built = model.SINGLE_UNIT_TYPES[unit.kind](object_url=unit.urls[0], title=unit.title)
        found.append((unit.kind, len(units), built))
        units.append(built)
        lines.setdefault(unit.kind, []).append(tuple(unit.lines))
        columns.setdefault(unit.kind, []).append(unit.columns)
    spec.source = model.SpecSource(name=name, form="csv", lines=lines, columns=columns)
    return spec, found
