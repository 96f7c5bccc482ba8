"""Open a spec file, tell its form from its name or content, and parse it.

The first 64 KiB are judged before the rest is read: text that is not UTF-8, a CSV
whose first row is not a spec header, or a ``.json`` file that does not start like
JSON is refused with a located issue at the cost of those bytes alone, whatever the
size of the file.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Literal

from accessio.errors import SpecInvalid, SpecUnreadable
from accessio.spec.csv_form import NOT_UTF8_CSV, first_row_issue, parse_csv
from accessio.spec.issues import Code, Issue, line_column, preview
from accessio.spec.json_form import parse_json
from accessio.spec.limits import DEFAULT_LIMITS, Limits
from accessio.spec.model import UploadSpec

SpecFormat = Literal["json", "csv"]
HEAD_BYTES = 64 * 1024  # judged before the rest of a file is read
_BOM = b"\xef\xbb\xbf"
_JSON_SPACE = b" \t\r\n"
_JSON_STARTS = frozenset(bytes([c]) for c in b'{["-0123456789tfn')


def sniff_format(name: str, data: bytes) -> SpecFormat:
    """``csv`` or ``json``: by extension, else by the first character of the content."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "json"
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    return "json" if head[:1] in (b"{", b"[") else "csv"


def check_head(head: bytes, *, name: str, format: SpecFormat, whole: bool) -> None:
    """Refuse a spec whose first bytes already show it is none (see the module docstring);
    ``whole`` says ``head`` is the whole file."""
    bom = len(_BOM) if head.startswith(_BOM) else 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head[bom:], final=whole)
    except UnicodeDecodeError as exc:
        line, column = line_column(head, bom + exc.start)
        message = NOT_UTF8_CSV if name.lower().endswith(".csv") else "the spec is not UTF-8 text"
        raise SpecInvalid(name, [Issue(f"line {line}, column {column}", Code.ENCODING, message)]) from None
    if format == "csv":
        found = first_row_issue(text, whole=whole)
        if found is not None:
            raise SpecInvalid(name, [found])
        return
    start = len(head) - len(head[bom:].lstrip(_JSON_SPACE))
    if start < len(head) and head[start : start + 1] not in _JSON_STARTS:
        line, column = line_column(head, start)
        shown = preview(text[start - bom : start - bom + 20])
        issue = Issue(f"line {line}, column {column}", Code.JSON_SYNTAX, f"malformed JSON: it starts with {shown}")
        raise SpecInvalid(name, [issue])


def parse_spec(
    data: bytes, *, name: str = "<spec>", format: SpecFormat | None = None, limits: Limits = DEFAULT_LIMITS
) -> UploadSpec:
    """Parse spec bytes of either format into an :class:`UploadSpec`.

    >>> parse_spec(b"ObjectUrl,Video title\\ns3://b/v.mp4,\\n").counts()
    {'video': 1}
    """
    chosen = format or sniff_format(name, data)
    check_head(data[:HEAD_BYTES], name=name, format=chosen, whole=len(data) <= HEAD_BYTES)
    if chosen == "csv":
        return parse_csv(data, name=name, limits=limits)
    return parse_json(data, name=name, limits=limits)


def load_spec(path: str | Path, *, format: SpecFormat | None = None, limits: Limits = DEFAULT_LIMITS) -> UploadSpec:
    """Read and parse a spec file.

    Raises :class:`~accessio.errors.SpecUnreadable` when the file cannot be read and
    :class:`~accessio.errors.SpecInvalid` when it holds issues.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > limits.max_spec_bytes:
                raise SpecUnreadable(
                    str(path), f"the file is {size:,} bytes; a spec may be {limits.max_spec_bytes:,} at most"
                )
            head = file.read(HEAD_BYTES)
            chosen = format or sniff_format(str(path), head)
            check_head(head, name=str(path), format=chosen, whole=len(head) < HEAD_BYTES or size <= HEAD_BYTES)
            file.seek(0)
            data = file.read()
    except IsADirectoryError:
        raise SpecUnreadable(str(path), "is a directory, not a spec file") from None
    except FileNotFoundError:
        raise SpecUnreadable(str(path), "no such file") from None
    except PermissionError:
        raise SpecUnreadable(str(path), "permission denied") from None
    except OSError as exc:
        raise SpecUnreadable(str(path), exc.strerror or str(exc)) from None
    return parse_spec(data, name=str(path), format=chosen, limits=limits)
