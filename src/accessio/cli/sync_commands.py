"""``accessio sync``: bring a cloud-synced folder up to date with its prefix."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from accessio.cli.common import INVALID, OK, UNUSABLE, CatalogOption, JsonOption, err, failures_exit, open_catalog, out
from accessio.cli.common import print_json as show_json

if TYPE_CHECKING:
    from accessio.service import Accessio

# what a sync did, in the order it is told
_TOLD = (("add", "added"), ("change", "changed"), ("metadata", "new metadata"), ("move", "moved"),
         ("delete", "deleted"), ("restore", "restored"))  # fmt: skip


def summary(shown: dict[str, Any]) -> str:
    """One line for a sync's JSON: what the listing held and what changed."""
    counts, sync = shown["counts"], shown.get("syncCounts") or {}
    done = [f"{sync.get(op + 'Done', 0):,} {word}" for op, word in _TOLD if sync.get(op + "Done")]
    line = (
        f"sync {shown['id']} of {shown['folder']}: {shown['status']} — {sync.get('listed', 0):,} listed, "
        f"{sync.get('unchanged', 0):,} unchanged; {', '.join(done) or 'nothing changed'}"
    )
    if counts["skipped"]:
        line += f"; {counts['skipped']:,} not media (skipped)"
    if counts["error"]:
        line += f"; {counts['error']:,} failed"
    return line


def _show(shown: dict[str, Any], as_json: bool) -> None:
    if as_json:
        show_json(shown)
        return
    out.print(summary(shown), markup=False)
    for error in shown["unitErrors"][:20]:
        out.print(f"  {' '.join(error['objectUrls'])}: {error['error']}", markup=False)
    if shown["counts"]["error"] > 20:
        out.print(f"  ... see: accessio jobs errors {shown['id']} --csv failures.csv", markup=False)


def _once(app: Accessio, folder: str, events: Path | None) -> dict[str, Any]:
    """One sync (of the notifications in ``events``, when given), its webhooks sent."""
    from accessio.cli.webhook_commands import deliver_after_job
    from accessio.service.sync import feed_events

    if events is None:
        job = app.sync(folder)
    elif str(events) == "-":
        job = feed_events(app, app.folder(folder), sys.stdin.buffer, "stdin")
    else:
        try:
            with events.open("rb") as lines:
                job = feed_events(app, app.folder(folder), lines, str(events))
        except OSError as exc:
            err.print(f"error: {events}: {exc.strerror}", markup=False)
            raise typer.Exit(UNUSABLE) from None
    deliver_after_job(job)
    return job.to_json()


def sync(
    folder: Annotated[str, typer.Argument(help="The synced folder (accessio folder create PATH --sync ...).")],
    watch: Annotated[bool, typer.Option("--watch", help="Sync again every --interval seconds, until Ctrl-C.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between two syncs with --watch.")
    ] = 60.0,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="Bucket notifications (S3, SQS/SNS, GCS, Azure Event Grid: one JSON document per line, or URLs) "
            "from a file or - for stdin: look at the objects they name only, with no listing.",
        ),
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sync a folder with the prefix it follows: new objects registered, changed ones probed
    again, moved ones followed, deleted ones made tombstones. Only the differences are written.

    Exit code 1 when the sync failed or some objects could not be registered (they are
    read again by the next sync). Ctrl-C leaves the sync resumable: run the command again.

    Example: accessio sync datasets/cars --watch --interval 300
    """
    if watch and events is not None:
        err.print("error: --watch lists the prefix again and again; --events reads notifications once", markup=False)
        raise typer.Exit(UNUSABLE)
    try:
        with failures_exit():
            app = open_catalog(catalog)
            while True:
                shown = _once(app, folder, events)
                _show(shown, as_json)
                if not watch:
                    break
                time.sleep(interval)
    except KeyboardInterrupt:
        err.print(f"interrupted: the sync is kept; run accessio sync {folder} again to finish it", markup=False)
        raise typer.Exit(130) from None
    raise typer.Exit(OK if shown["status"] == "DONE" and not shown["counts"]["error"] else INVALID)
