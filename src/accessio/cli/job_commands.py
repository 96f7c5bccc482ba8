"""``accessio register`` and ``accessio jobs``."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accessio.cli.common import (
    INVALID,
    OK,
    UNUSABLE,
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
from accessio.cli.worker_commands import BrokerOption
from accessio.errors import SpecInvalid, SpecUnreadable

if TYPE_CHECKING:
    from accessio.service import Accessio, Job
    from accessio.spec import UploadSpec


class Executor(StrEnum):
    LOCAL = "local"
    CELERY = "celery"

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
    from accessio.cli.webhook_commands import deliver_after_job

    with failures_exit():
        deliver_after_job(job)
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
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            envvar="ACCESSIO_EXECUTOR",
            help="local: work the job in this process; celery: hand it to `accessio worker`s (PostgreSQL catalog).",
        ),
    ] = Executor.LOCAL,
    broker_url: BrokerOption = None,
    queue: Annotated[
        str | None, typer.Option("--queue", envvar="ACCESSIO_QUEUE", help="The workers' queue (celery).")
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="With --executor celery: print the job's id and return at once.")
    ] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
    max_issues: MaxIssuesOption = None,
) -> None:
    """Register a spec into a folder, with a live progress bar (Ctrl-C leaves the job resumable).

    The folder must exist (accessio folder create), unless --create-folder is given.

    Example: accessio register upload.json --folder datasets/cars --integration media
    """
    if detach and executor is not Executor.CELERY:
        err.print("error: --detach needs --executor celery (a local job is worked by this process)", markup=False)
        raise typer.Exit(UNUSABLE)
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
        broker = _workers_broker(app, broker_url) if executor is Executor.CELERY else None  # before anything is made
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
        if executor is Executor.CELERY:
            try:
                assert broker is not None
                _register_on_workers(
                    app, parsed, spec.name, folder, integration, ignore_errors, sequence_fps, broker, queue, detach,
                    as_json,
                )  # fmt: skip
            finally:
                app.close()
            return
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


def _workers_broker(app: Accessio, broker: str | None) -> str:
    """The broker's URL, once the catalog is known to suit the Celery workers (PostgreSQL)."""
    from accessio.cli.worker_commands import setup_exit  # Celery loads only when used
    from accessio.cluster.broker import broker_url
    from accessio.cluster.handoff import require_postgres

    with setup_exit():
        require_postgres(app.engine)
        return broker_url(broker)


def _register_on_workers(
    app: Accessio,
    parsed: UploadSpec,
    file_name: str,
    folder: str,
    integration: str,
    ignore_errors: bool,
    sequence_fps: float | None,
    url: str,
    queue: str | None,
    detach: bool,
    as_json: bool,
) -> None:
    """``register --executor celery``: store the job, hand it to the workers (``url``: the
    broker's), then follow it (or, detached, print its id)."""
    from accessio.cluster.broker import ChunkSender
    from accessio.cluster.handoff import hand_to_workers, holder_for, queue_name

    name = queue_name(queue)
    job = app.start_registration(
        parsed,
        folder=folder,
        integration=integration,
        ignore_errors=ignore_errors,
        file_name=file_name,
        sequence_fps=sequence_fps,
        lease_holder=holder_for(name),
    )
    sender = ChunkSender(url)
    try:
        hand_to_workers(app, job.id, sender, queue=name, units=job.units())
    finally:
        sender.close()
    if detach:
        if as_json:
            print_json({"id": job.id, "status": job.status, "queue": name})
        else:
            out.print(f"job {job.id}: handed to the workers of queue {name}; follow it with: accessio jobs show "
                      f"{job.id}", markup=False)  # fmt: skip
        raise typer.Exit(OK)
    try:
        _follow(job, parsed.unit_count(), as_json)
    except KeyboardInterrupt:
        err.print(f"the job goes on on the workers; follow it with: accessio jobs show {job.id}", markup=False)
        raise typer.Exit(130) from None
    _finish(job, as_json)


def _follow(job: Job, total: int, quiet: bool, every_s: float = 0.5) -> None:
    """Wait for a job the workers work, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from accessio.catalog import jobs as job_store
    from accessio.catalog.jobs import FINAL

    if quiet or not sys.stderr.isatty():
        while job.status not in FINAL:
            time.sleep(every_s)
        return
    columns = (TextColumn("registering (workers)"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[errors]} errors"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("units", total=total, errors=0)
        while True:
            record = job.record
            counts = job_store.counts(record)
            bar.update(task, completed=counts["done"] + counts["error"], errors=counts["error"])
            if record.status in FINAL:
                return
            time.sleep(every_s)


@jobs_app.command("ls")
def jobs_ls(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List recent jobs.

    Example: accessio jobs ls --json
    """
    from accessio.catalog import chunks as chunk_store

    with failures_exit():
        app = open_catalog(catalog)
        shown = [job.to_json(max_errors=0) for job in app.jobs()]
        held: dict[str, list[chunk_store.ChunkView]] = {}
        if app.engine.dialect.name == "postgresql":  # chunks worked by Celery workers, and who holds them
            with app.engine.connect() as conn:
                held = chunk_store.held(conn, [job["id"] for job in shown if job["status"] == "PENDING"])
    if as_json:
        for job in shown:
            job["chunks"] = [
                {"chunk": c.index, "firstUnit": c.first, "endUnit": c.end, "worker": c.node, "process": c.holder,
                 "attempts": c.attempts}
                for c in held.get(job["id"], [])
            ]  # fmt: skip
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
    for job in shown:
        for chunk in held.get(job["id"], []):
            process = (chunk.holder or "").rsplit("/", 1)[0]
            out.print(
                f"  chunk {chunk.index} of job {job['id']} (units {chunk.first:,}-{chunk.end - 1:,}) on "
                f"{chunk.node or '?'} ({process})" + (f", attempt {chunk.attempts}" if chunk.attempts > 1 else ""),
                markup=False,
            )


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
    from accessio.cli.webhook_commands import deliver_after_job

    with failures_exit():
        job = open_catalog(catalog).job(job_id)
        cancelled = job.cancel()
        deliver_after_job(job)
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
        record = job.record
        total = record.units_total
    from accessio.catalog import chunks as chunk_store

    if chunk_store.workers_hold(record):
        err.print(f"error: job {job_id} is worked by the Celery workers ({record.lease_holder}); they resume it "
                  f"themselves: follow it with accessio jobs show {job_id}", markup=False)  # fmt: skip
        raise typer.Exit(INVALID)
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
