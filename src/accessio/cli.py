"""The ``accessio`` command: a thin skin over the library.

Exit codes: 0 success, 1 the operation found a problem (an invalid spec), 2 the
command could not run (a file that cannot be read, a misused option).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from accessio.demo import write_examples
from accessio.errors import SpecInvalid, SpecUnreadable
from accessio.spec import UploadSpec, load_spec, write_json

app = typer.Typer(
    name="accessio",
    help="Register data that lives in object storage into a searchable catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spec_app = typer.Typer(help="Read, check and convert upload specs.", no_args_is_help=True)
app.add_typer(spec_app, name="spec")

OK, INVALID, UNUSABLE = 0, 1, 2
_out = Console(highlight=False, soft_wrap=True)


class FileReport(msgspec.Struct):
    """What ``spec validate --json`` prints for one file."""

    file: str
    valid: bool
    units: dict[str, int]
    urls: int
    errors: list[dict[str, str]]


def _report(path: str) -> tuple[int, FileReport]:
    try:
        spec = load_spec(path)
    except SpecUnreadable as exc:
        error = {"location": "$", "code": exc.code, "message": exc.reason}
        return UNUSABLE, FileReport(path, False, {}, 0, [error])
    except SpecInvalid as exc:
        errors = [{"location": i.location, "code": i.code, "message": i.message} for i in exc.issues]
        return INVALID, FileReport(path, False, {}, 0, errors)
    return OK, FileReport(path, True, spec.counts(), spec.url_count(), [])


def _summary(report: FileReport) -> str:
    parts = [f"{count:,} {kind}" for kind, count in report.units.items()]
    urls = f"{report.urls:,} object URL{'s' * (report.urls != 1)}"
    return f"{report.file}: valid, {', '.join(parts)}; {urls}"


@spec_app.command("validate")
def validate(
    files: Annotated[list[str], typer.Argument(help="Spec files (.json or .csv).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
) -> None:
    """Check spec files and list every issue with its location.

    Example: accessio spec validate upload.json upload.csv
    """
    worst = OK
    write = sys.stdout.write
    for path in files:
        status, report = _report(path)
        worst = max(worst, status)
        if as_json:
            write(msgspec.json.encode(report).decode() + "\n")
        elif report.valid:
            write(_summary(report) + "\n")
        else:
            count = len(report.errors)
            state = "unreadable" if status == UNUSABLE else "invalid"
            write(f"{report.file}: {state} ({count:,} issue{'s' * (count != 1)})\n")
            write("".join(f"{e['location']}: {e['message']}\n" for e in report.errors))
    raise typer.Exit(worst)


@spec_app.command("convert")
def convert(
    file: Annotated[Path, typer.Argument(help="A CSV (or JSON) spec.", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of standard output.")
    ] = None,
    form: Annotated[str, typer.Option("--form", help="json (upload file form) or structured.")] = "json",
) -> None:
    """Convert a spec to a canonical JSON upload file.

    Example: accessio spec convert upload.csv -o upload.json
    """
    if form not in ("json", "structured"):
        raise typer.BadParameter("must be json or structured", param_hint="--form")
    chosen: Literal["json", "structured"] = "structured" if form == "structured" else "json"
    spec = _load_or_exit(file)
    data = write_json(spec, chosen)
    if output is None:
        sys.stdout.write(data.decode() + "\n")
    else:
        output.write_bytes(data + b"\n")
        _out.print(f"wrote {output} ({spec.unit_count():,} units, {spec.url_count():,} object URLs)")


def _load_or_exit(path: Path) -> UploadSpec:
    try:
        return load_spec(path)
    except SpecUnreadable as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        raise typer.Exit(UNUSABLE) from None
    except SpecInvalid as exc:
        sys.stderr.write(f"{path}: invalid ({len(exc.issues):,} issues)\n")
        sys.stderr.write("".join(f"{i.location}: {i.message}\n" for i in exc.issues))
        raise typer.Exit(INVALID) from None


@app.command("demo")
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the example specs.")] = Path("accessio-demo"),
) -> None:
    """Write example specs of every type and validate them.

    Example: accessio demo --dir /tmp/accessio-demo
    """

    paths = write_examples(directory)
    table = Table(title=f"Example specs in {directory}", show_lines=False)
    table.add_column("spec")
    table.add_column("item type")
    table.add_column("units", justify="right")
    worst = OK
    for path in paths:
        status, report = _report(str(path))
        worst = max(worst, status)
        if not report.valid:
            for error in report.errors:
                sys.stderr.write(f"{path}: {error['location']}: {error['message']}\n")
            continue
        for kind, count in report.units.items():
            table.add_row(path.name, kind, f"{count:,}")
        table.add_row(path.name, "[bold]object URLs[/bold]", f"{report.urls:,}", end_section=True)
    _out.print(table)
    _out.print("All example specs are valid." if worst == OK else "Some example specs are invalid.")
    raise typer.Exit(worst)


def main() -> None:
    """Entry point of the ``accessio`` command."""
    app()
