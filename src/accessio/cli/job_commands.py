"""``accessio register`` and ``accessio jobs``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accessio.cli.common import (
    INVALID,
    OK,
    CatalogOption,
    JsonOption,
    err,
    failures_exit,
    open_catalog,
    out,
    plural,
    print_json,
    print_table,
)
from accessio.cli.spec_commands import MaxIssuesOption, issue_lines
from accessio.errors import SpecInvalid, SpecUnreadable

if TYPE_CHECKING:
    from accessio.service import Accessio, Job
    from accessio.spec import UploadSpec

jobs_app = typer.Typer(help="Registration jobs.", no_args_is_help=True)


def _run_interruptible(job: Job, total: int, quiet: bool) -> None:
    """Run the job with a progress bar; Ctrl-C leaves it resumable (exit 130)."""
    try:
        with failures_exit():
            _run_with_progress(job, total, quiet)
    except KeyboardInterrupt:
        err.print(f"interrupted: the job is kept; resume it with: accessio jobs resume {job.id}", markup=False)
        raise typer.Exit(130) from None


def _run_with_progress(job: Job, total: int, quiet: bool) -> None:
    if quiet or not sys.stderr.isatty():
        job.run()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("registering"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[errors]} errors"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("units", total=total, errors=0)

        def update(counts: dict[str, int]) -> None:
            bar.update(task, completed=total - counts["pending"], errors=counts["error"])

        job.run(update)


def _finish(job: Job, as_json: bool) -> None:
    shown = job.to_json()
    if as_json:
        print_json(shown)
    else:
        counts = shown["counts"]
        out.print(
            f"job {shown['id']}: {shown['status']} — {counts['done']:,} done ({counts['created']:,} created, "
            f"{counts['skipped']:,} skipped, {counts['upserted']:,} upserted), {counts['error']:,} failed, "
            f"{counts['cancelled']:,} cancelled",
            markup=False,
        )
        for error in shown["unitErrors"][:20]:
            out.print(f"  {' '.join(error['objectUrls'])}: {error['error']}", markup=False)
        if counts["error"] > 20:
            out.print(f"  ... see: accessio jobs errors {shown['id']} --csv failures.csv", markup=False)
    raise typer.Exit(OK if shown["status"] == "DONE" else INVALID)


def register(
    spec: Annotated[Path, typer.Argument(help="The spec file (.json or .csv).")],
    folder: Annotated[str, typer.Option("--folder", help="The folder to register into.")],
    integration: Annotated[str, typer.Option("--integration", help="The integration that reads the URLs.")],
    ignore_errors: Annotated[
        bool, typer.Option("--ignore-errors", help="Register the valid units, list the rest.")
    ] = False,
    dry: Annotated[bool, typer.Option("--dry-run", help="Check everything, write nothing.")] = False,
    sequence_fps: Annotated[
        float | None,
        typer.Option("--sequence-fps", help="Frame rate of the image sequences' videos (default 25).", min=0.1),
    ] = None,
    create_folder: Annotated[
        bool, typer.Option("--create-folder", help="Create the folder (and its parents) when it does not exist.")
    ] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
    max_issues: MaxIssuesOption = None,
) -> None:
    """Register a spec into a folder, with a live progress bar (Ctrl-C leaves the job resumable).

    The folder must exist (accessio folder create), unless --create-folder is given.

    Example: accessio register upload.json --folder datasets/cars --integration media
    """
    from accessio.jobs.dry_run import dry_run
    from accessio.spec import Limits, load_spec

    try:
        parsed = load_spec(spec, limits=Limits() if max_issues is None else Limits(max_issues=max_issues))
    except SpecUnreadable as exc:
        err.print(f"error: {exc.message}", markup=False)
        raise typer.Exit(2) from None
    except SpecInvalid as exc:
        err.print(f"{spec}: invalid ({exc.total:,} issues)", markup=False)
        sys.stderr.write(issue_lines([(i.location, i.message) for i in exc.issues], exc.total))
        raise typer.Exit(INVALID) from None
    with failures_exit():
        app = open_catalog(catalog)
        app.integration_record(integration)  # an unknown integration stops here, before a folder is made
        if not create_folder:
            _existing_folder(app, folder)  # a dry run refuses what the registration would
        if dry:
            report = dry_run(app, parsed, folder=folder, integration=integration)
            if as_json:
                print_json(report)
            else:
                out.print(
                    f"{spec}: valid; {plural(report['units'], 'unit')}, {plural(report['urls'], 'object URL')}; "
                    f"{report['duplicates']:,} already in {folder}; reached {report['reachable']} of "
                    f"{plural(report['sampled'], 'sampled object')}",
                    markup=False,
                )
                for problem in report["unreachable"]:
                    out.print(f"  {problem['url']}: {problem['error']}", markup=False)
                for problem in report["metadataErrors"]:
                    out.print(f"  {problem['location']}: {problem['error']}", markup=False)
            raise typer.Exit(OK if not report["unreachable"] and not report["metadataErrors"] else INVALID)
        if create_folder:
            app.create_folder(folder, exist_ok=True)
        if not parsed.skip_duplicate_urls:
            _warn_of_duplicates(app, folder, parsed)
        job = app.start_registration(
            parsed,
            folder=folder,
            integration=integration,
            ignore_errors=ignore_errors,
            file_name=spec.name,
            sequence_fps=sequence_fps,
        )
    _run_interruptible(job, parsed.unit_count(), as_json)
    _finish(job, as_json)


def _warn_of_duplicates(app: Accessio, folder: str, spec: UploadSpec) -> None:
    from accessio.jobs.dry_run import count_duplicates

    with app.engine.connect() as conn:
        found = count_duplicates(conn, folder, spec)
    if found:
        err.print(
            f"warning: {plural(found, 'unit')} of the spec {'is' if found == 1 else 'are'} already in {folder} "
            'and will be registered again; to skip them, give the spec "skip_duplicate_urls": true',
            markup=False,
        )


def _existing_folder(app: Accessio, folder: str) -> None:
    from accessio.catalog.errors import NotFound

    try:
        app.folder(folder)
    except NotFound as exc:
        hint = f"{exc.hint}; create it with: accessio folder create {exc.key}, or register with --create-folder"
        raise NotFound("folder", exc.key, hint) from None


@jobs_app.command("ls")
def jobs_ls(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List recent jobs.

    Example: accessio jobs ls --json
    """
    with failures_exit():
        shown = [job.to_json(max_errors=0) for job in open_catalog(catalog).jobs()]
    if as_json:
        print_json(shown)
        return
    if not shown:
        err.print("no jobs yet: accessio register SPEC --folder PATH --integration NAME", markup=False)
        return
    counters = ("pending", "done", "created", "skipped", "upserted", "error", "cancelled")
    rows = []
    for job in shown:  # a PENDING job shows what it is doing: QUEUED, RUNNING or INTERRUPTED
        c = job["counts"]
        holder = job["leaseHolder"].rsplit("/", 1)[0] if job["leaseHolder"] else ""
        rows.append(
            (
                job["id"], job["state"].upper(), job["folder"], *(f"{c[name]:,}" for name in counters),
                job["fileName"] or "", holder, job["createdAt"][:19],
            )
        )  # fmt: skip
    headers = ("id", "state", "folder", *(c if c != "error" else "failed" for c in counters), "file", "worked by")
    print_table((*headers, "created at"), rows)


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument()], catalog: CatalogOption = None, as_json: JsonOption = False
) -> None:
    """Show a job, its counters and its unit errors.

    Example: accessio jobs show 3d2c...
    """
    with failures_exit():
        shown = open_catalog(catalog).job(job_id).to_json()
    if as_json:
        print_json(shown)
    else:
        out.print_json(data=shown)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[str, typer.Argument()], catalog: CatalogOption = None, as_json: JsonOption = False
) -> None:
    """Cancel a job; units already registered stay.

    Example: accessio jobs cancel 3d2c...
    """
    with failures_exit():
        cancelled = open_catalog(catalog).job(job_id).cancel()
    if as_json:
        print_json({"unitsCancelledCount": cancelled})
    else:
        out.print(f"cancelled {plural(cancelled, 'unit')}", markup=False)


@jobs_app.command("resume")
def jobs_resume(
    job_id: Annotated[str, typer.Argument()], catalog: CatalogOption = None, as_json: JsonOption = False
) -> None:
    """Finish a job that was interrupted (Ctrl-C, a crash, a restart); refused while a
    live process works it.

    Example: accessio jobs resume 3d2c...
    """
    with failures_exit():
        job = open_catalog(catalog).job(job_id)
        total = job.record.units_total
    _run_interruptible(job, total, as_json)
    _finish(job, as_json)


@jobs_app.command("errors")
def jobs_errors(
    job_id: Annotated[str, typer.Argument()],
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write one row per failed file here.")] = None,
    spec_path: Annotated[Path | None, typer.Option("--spec", help="Write a spec of the failed units here.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """The failure report of a job: a CSV of failed files and a spec to submit again.

    Example: accessio jobs errors 3d2c... --csv failed.csv --spec retry.json
    """
    with failures_exit():
        job = open_catalog(catalog).job(job_id)
        if csv_path is not None:
            csv_path.write_text(job.failures_csv(), encoding="utf-8")
        if spec_path is not None:
            spec_path.write_bytes(job.failures_spec() + b"\n")
        errors = job.to_json(max_errors=1_000_000)["unitErrors"]
    if as_json:
        print_json(errors)
    elif csv_path is None and spec_path is None:
        sys.stdout.write(job.failures_csv())
    else:
        out.print(f"{plural(len(errors), 'failed unit')}", markup=False)
