"""``accessio spec ...`` and ``accessio demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal, cast

import msgspec
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from accessio.cli.common import INVALID, OK, UNUSABLE, CatalogOption, err, failures_exit
from accessio.demo import local_spec, write_examples
from accessio.demo_media import write_media
from accessio.errors import SpecInvalid, SpecUnreadable
from accessio.service import Accessio
from accessio.spec import DEFAULT_LIMITS, Limits, UploadSpec, load_spec, write_json
from accessio.spec.generate import GENERATE_TYPES, GenerateType, write_csv
from accessio.spec.generate import generate as generate_from_listing

spec_app = typer.Typer(help="Read, check and convert upload specs.", no_args_is_help=True)
_out = Console(highlight=False, soft_wrap=True)


class FileReport(msgspec.Struct):
    """What ``spec validate --json`` prints for one file."""

    file: str
    valid: bool
    units: dict[str, int]
    urls: int
    errors: list[dict[str, str]]  # the first --max-issues
    error_count: int = 0  # every issue found
    truncated: bool = False  # whether error_count is more than the errors listed


def _report(path: str, max_issues: int = DEFAULT_LIMITS.max_issues) -> tuple[int, FileReport]:
    try:
        spec = load_spec(path, limits=Limits(max_issues=max_issues))
    except SpecUnreadable as exc:
        error = {"location": "$", "code": exc.code, "message": exc.reason}
        return UNUSABLE, FileReport(path, False, {}, 0, [error], 1)
    except SpecInvalid as exc:
        errors = [{"location": i.location, "code": i.code, "message": i.message} for i in exc.issues]
        return INVALID, FileReport(path, False, {}, 0, errors, exc.total, exc.truncated)
    return OK, FileReport(path, True, spec.counts(), spec.url_count(), [])


def issue_lines(issues: list[tuple[str, str]], total: int) -> str:
    """The issues shown (location, message), one a line, and a last line for those not shown."""
    lines = [f"{location}: {message}\n" for location, message in issues]
    hidden = total - len(issues)
    if hidden > 0:
        lines.append(f"... and {hidden:,} more issue{'s' * (hidden != 1)} (--max-issues N shows more)\n")
    return "".join(lines)


MaxIssuesOption = Annotated[
    int, typer.Option("--max-issues", min=1, help="Show at most this many issues of an invalid spec (all are counted).")
]


def _summary(report: FileReport) -> str:
    parts = [f"{count:,} {kind}" for kind, count in report.units.items()]
    urls = f"{report.urls:,} object URL{'s' * (report.urls != 1)}"
    return f"{report.file}: valid, {', '.join(parts)}; {urls}"


@spec_app.command("validate")
def validate(
    files: Annotated[list[str], typer.Argument(help="Spec files (.json or .csv).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
    max_issues: MaxIssuesOption = DEFAULT_LIMITS.max_issues,
) -> None:
    """Check spec files and list every issue with its location (the first --max-issues).

    Example: accessio spec validate upload.json upload.csv
    """
    worst = OK
    write = sys.stdout.write
    for path in files:
        status, report = _report(path, max_issues)
        worst = max(worst, status)
        if as_json:
            write(msgspec.json.encode(report).decode() + "\n")
        elif report.valid:
            write(_summary(report) + "\n")
        else:
            count = report.error_count
            state = "unreadable" if status == UNUSABLE else "invalid"
            write(f"{report.file}: {state} ({count:,} issue{'s' * (count != 1)})\n")
            write(issue_lines([(e["location"], e["message"]) for e in report.errors], count))
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
        sys.stderr.write(f"{path}: invalid ({exc.total:,} issues)\n")
        sys.stderr.write(issue_lines([(i.location, i.message) for i in exc.issues], exc.total))
        raise typer.Exit(INVALID) from None


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo's files and catalog.")] = Path(
        "accessio-demo"
    ),
) -> None:
    """Write example specs, then register a small local media folder of every type into
    a catalog of its own and show the items.

    Example: accessio demo --dir /tmp/accessio-demo
    """
    directory = directory.resolve()  # the media's file:// URLs are absolute
    paths = write_examples(directory)
    worst = OK
    for path in paths:
        status, report = _report(str(path))
        worst = max(worst, status)
        _out.print(_summary(report) if report.valid else f"{path}: invalid", markup=False)
    media = write_media(directory / "media")
    spec = local_spec(media)
    spec_path = directory / "local-spec.json"
    spec_path.write_bytes(write_json(spec) + b"\n")
    app = Accessio(str(directory / "catalog.db"))
    if not any(i.name == "demo" for i in app.integrations()):
        app.add_integration("demo", "local", root=str((directory / "media").resolve()))
    app.create_folder("demo", "the accessio demo", exist_ok=True)
    job = app.start_registration(spec_path, folder="demo", integration="demo")
    with Progress(*Progress.get_default_columns(), console=_out, transient=True) as bar:
        task = bar.add_task("registering", total=spec.unit_count())
        job.run(lambda counts: bar.update(task, completed=spec.unit_count() - counts["pending"]))
    shown = job.to_json()
    counts = shown["counts"]
    _out.print(
        f"job {shown['status']}: {counts['created']} created, {counts['skipped']} already there, "
        f"{counts['error']} failed (catalog {directory / 'catalog.db'})",
        markup=False,
    )
    table = Table(title="Items in folder demo")
    for column in ("type", "name", "size", "mime type", "children"):
        table.add_column(column)
    for item in app.items("demo", limit=1000):
        children = len(app.item(item["uuid"]).get("children", []))
        size = f"{item['fileSize']:,}" if item["fileSize"] is not None else ""
        table.add_row(item["itemType"], item["name"], size, item["mimeType"] or "", str(children or ""))
    _out.print(table)
    raise typer.Exit(max(worst, OK if shown["status"] == "DONE" else INVALID))


@spec_app.command("generate")
def generate(
    prefix: Annotated[str, typer.Argument(help="A bucket prefix or local directory URL to list.", show_default=False)],
    integration: Annotated[str, typer.Option("--integration", help="The integration that lists it.")],
    unit_type: Annotated[
        str, typer.Option("--type", help="auto (sort by extension), or only images|videos|audio|pdf|text|dicom|nifti.")
    ] = "auto",
    form: Annotated[str, typer.Option("--format", help="json (upload file form) or csv.")] = "json",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of standard output.")
    ] = None,
    with_metadata: Annotated[
        bool, typer.Option("--with-metadata", help="Fill the media metadata a listing makes complete (text only).")
    ] = False,
    catalog: CatalogOption = None,
) -> None:
    """Write an upload spec of the objects under a prefix; a summary goes to standard error.

    Example: accessio spec generate s3://cats/2024/ --integration media -o upload.json
    """
    if unit_type not in GENERATE_TYPES:
        raise typer.BadParameter(f"must be one of {'|'.join(GENERATE_TYPES)}", param_hint="--type")
    if form not in ("json", "csv"):
        raise typer.BadParameter("must be json or csv", param_hint="--format")
    if with_metadata and form == "csv":
        raise typer.BadParameter("CSV cannot carry metadata; use --format json", param_hint="--with-metadata")
    chosen = cast(GenerateType, unit_type)
    with failures_exit():
        storage = Accessio(catalog).storage(integration)
        result = generate_from_listing(storage, prefix, unit_type=chosen, with_metadata=with_metadata)
    data = write_csv(result.spec) if form == "csv" else write_json(result.spec) + b"\n"
    for line in result.summary():
        err.print(line, markup=False)
    if output is None:
        sys.stdout.write(data.decode())
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        err.print(f"error: cannot write {output}: {exc.strerror or exc}", markup=False)
        raise typer.Exit(UNUSABLE) from None
    err.print(f"wrote {output} ({result.spec.unit_count():,} units)", markup=False)
