"""The failure report of a job: a CSV with one row per failed file, and a spec of
exactly the failed units, ready to fix and submit again."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from accessio.catalog.jobs import UnitError
from accessio.jobs.units import KIND_OF
from accessio.spec import UploadSpec, model, write_json

CSV_COLUMNS = ("object_url", "title", "item_type", "error", "action")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading ``=``, ``+``, ``-``, ``@``, tab or
    carriage return would start a formula, so a quote goes before it."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def failures_csv(failed: Iterable[UnitError], units: Sequence[model.Unit]) -> str:
    """One row per failed file (every member of a failed group or series)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in failed:
        unit = units[row.unit_index]
        for url in unit.urls:
            cells = (url, unit.display_title, unit.item_type.value, row.error, row.action)
            writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()


def failures_spec(
    failed: Iterable[UnitError], units: Sequence[model.Unit], *, skip_duplicate_urls: bool, upsert_metadata: bool
) -> bytes:
    """A JSON upload spec holding exactly the failed units, flags kept."""
    spec = UploadSpec(skip_duplicate_urls=skip_duplicate_urls, upsert_metadata=upsert_metadata)
    for row in failed:
        unit = units[row.unit_index]
        spec.units_of(KIND_OF[type(unit)]).append(unit)
    return write_json(spec)
