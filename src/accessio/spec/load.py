"""Open a spec file, tell its form from its name or content, and parse it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from accessio.errors import SpecUnreadable
from accessio.spec.csv_form import parse_csv
from accessio.spec.json_form import parse_json
from accessio.spec.limits import DEFAULT_LIMITS, Limits
from accessio.spec.model import UploadSpec

SpecFormat = Literal["json", "csv"]


def sniff_format(name: str, data: bytes) -> SpecFormat:
    """``csv`` or ``json``: by extension, else by the first character of the content."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "json"
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    return "json" if head[:1] in (b"{", b"[") else "csv"


def parse_spec(
    data: bytes, *, name: str = "<spec>", format: SpecFormat | None = None, limits: Limits = DEFAULT_LIMITS
) -> UploadSpec:
    """Parse spec bytes of either format into an :class:`UploadSpec`.

    >>> parse_spec(b"ObjectUrl,Video title\\ns3://b/v.mp4,\\n").counts()
    {'video': 1}
    """
    chosen = format or sniff_format(name, data)
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
        size = path.stat().st_size
        if size > limits.max_spec_bytes:
            raise SpecUnreadable(
                str(path), f"the file is {size:,} bytes; a spec may be {limits.max_spec_bytes:,} at most"
            )
        data = path.read_bytes()
    except IsADirectoryError:
        raise SpecUnreadable(str(path), "is a directory, not a spec file") from None
    except FileNotFoundError:
        raise SpecUnreadable(str(path), "no such file") from None
    except PermissionError:
        raise SpecUnreadable(str(path), "permission denied") from None
    except OSError as exc:
        raise SpecUnreadable(str(path), exc.strerror or str(exc)) from None
    return parse_spec(data, name=str(path), format=format, limits=limits)
