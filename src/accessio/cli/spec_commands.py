"""``accessio spec ...`` and ``accessio demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import msgspec
import typer
from rich.console import Console

from accessio.cli.common import INVALID, OK, UNUSABLE, CatalogOption, err, failures_exit, open_catalog, plural
from accessio.errors import SpecInvalid, SpecUnreadable

if TYPE_CHECKING:
    from accessio.spec import UploadSpec
    from accessio.spec.generate import GenerateType

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


def _report(path: str, max_issues: int | None = None) -> tuple[int, FileReport]:
    from accessio.spec import Limits, load_spec

    try:
        spec = load_spec(path, limits=Limits() if max_issues is None else Limits(max_issues=max_issues))
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
    int | None,
    typer.Option(
        "--max-issues", min=1, help="Show at most this many issues of an invalid spec (all are counted; default 1,000)."
    ),
]


def _summary(report: FileReport) -> str:
    from accessio.spec.item_types import plural_name

    parts = [plural_name(kind, count) for kind, count in report.units.items()]
    urls = f"{report.urls:,} object URL{'s' * (report.urls != 1)}"
    return f"{report.file}: valid, {', '.join(parts)}; {urls}"


@spec_app.command("validate")
def validate(
    files: Annotated[list[str], typer.Argument(help="Spec files (.json or .csv).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
    max_issues: MaxIssuesOption = None,
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
    from accessio.spec import write_json

    chosen: Literal["json", "structured"] = "structured" if form == "structured" else "json"
    spec = _load_or_exit(file)
    data = write_json(spec, chosen)
    if output is None:
        sys.stdout.write(data.decode() + "\n")
    else:
        output.write_bytes(data + b"\n")
        units, urls = plural(spec.unit_count(), "unit"), plural(spec.url_count(), "object URL")
        _out.print(f"wrote {output} ({units}, {urls})")


def _generate_type(given: str, known: tuple[str, ...]) -> GenerateType:
    """``--type`` of ``spec generate``: its own names, or any item type's name or alias."""
    from accessio.spec.item_types import item_type
    from accessio.spec.model import ItemType

    if given in known:
        return cast("GenerateType", given)
    try:
        kind = item_type(given)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--type") from None
    listed = {
        ItemType.IMAGE: "images", ItemType.VIDEO: "videos", ItemType.AUDIO: "audio", ItemType.PDF: "pdf",
        ItemType.PLAIN_TEXT: "text", ItemType.DICOM_SERIES: "dicom", ItemType.DICOM_FILE: "dicom",
        ItemType.NIFTI: "nifti",
    }  # fmt: skip
    if kind not in listed:
        raise typer.BadParameter(
            f"{kind.value} items are not made from a listing (a listing holds files, not groups): write them by hand",
            param_hint="--type",
        )
    return cast("GenerateType", listed[kind])


def _load_or_exit(path: Path) -> UploadSpec:
    from accessio.spec import load_spec

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
    from rich.progress import Progress
    from rich.table import Table

    from accessio.demo import local_spec, write_examples
    from accessio.demo_media import write_media
    from accessio.spec import write_json

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
    app = open_catalog(str(directory / "catalog.db"))
    if not any(i.name == "demo" for i in app.integrations()):
        root = (directory / "media").resolve()
        app.add_integration("demo", "local", root=str(root), write_prefix=str(root / "videos"))  # sequences' videos
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
    _out.print(_explore(directory / "catalog.db", shown["id"]), markup=False)
    raise typer.Exit(max(worst, OK if shown["status"] == "DONE" else INVALID))


def _explore(catalog: Path, job_id: str) -> str:
    """The commands that look around the demo's catalog, ready to paste."""
    import shlex

    where = shlex.quote(str(catalog))
    return "\n".join(
        [
            "",
            "Explore the demo's catalog:",
            f"  export ACCESSIO_CATALOG={where}",
            "  accessio items ls --folder demo",
            "  accessio items ls --folder demo --type video --json",
            "  accessio items ls --folder demo --where 'width >= 64' --sort fileSize --desc",
            f"  accessio jobs show {job_id}",
            "  accessio items show ID        (an id from items ls, or a unique start of it)",
            "  accessio serve                (then open http://127.0.0.1:8080; accessio user add NAME --admin first)",
        ]
    )


@spec_app.command("generate")
def generate(
    prefix: Annotated[str, typer.Argument(help="A bucket prefix or local directory URL to list.", show_default=False)],
    integration: Annotated[str, typer.Option("--integration", help="The integration that lists it.")],
    unit_type: Annotated[
        str,
        typer.Option(
            "--type",
            help="auto (sort by extension), or only one item type: image, video, audio, pdf, plainText, "
            "dicomSeries or nifti (plurals and spec keys are accepted too: images, text, dicom...).",
        ),
    ] = "auto",
    form: Annotated[str, typer.Option("--format", help="json (upload file form) or csv.")] = "json",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of standard output.")
    ] = None,
    with_metadata: Annotated[
        bool, typer.Option("--with-metadata", help="Fill the media metadata a listing makes complete (text only).")
    ] = False,
    skip_duplicates: Annotated[
        bool,
        typer.Option(
            "--skip-duplicate-urls/--keep-duplicate-urls",
            help="Write skip_duplicate_urls: true (JSON), so registering it again skips what is registered.",
        ),
    ] = True,
    catalog: CatalogOption = None,
) -> None:
    """Write an upload spec of the objects under a prefix; a summary goes to standard error.

    A JSON spec says "skip_duplicate_urls": true unless --keep-duplicate-urls is given: a
    second registration of the same prefix then adds only the new objects.

    Example: accessio spec generate s3://cats/2024/ --integration media -o upload.json
    """
    from accessio.spec import write_json
    from accessio.spec.generate import GENERATE_TYPES, write_csv
    from accessio.spec.generate import generate as generate_from_listing

    chosen = _generate_type(unit_type, GENERATE_TYPES)
    if form not in ("json", "csv"):
        raise typer.BadParameter("must be json or csv", param_hint="--format")
    if with_metadata and form == "csv":
        raise typer.BadParameter("CSV cannot carry metadata; use --format json", param_hint="--with-metadata")
    with failures_exit():
        storage = open_catalog(catalog).storage(integration)
        result = generate_from_listing(storage, prefix, unit_type=chosen, with_metadata=with_metadata)
    result.spec.skip_duplicate_urls = skip_duplicates and form == "json"  # CSV cannot carry the flag
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
    err.print(f"wrote {output} ({plural(result.spec.unit_count(), 'unit')})", markup=False)
