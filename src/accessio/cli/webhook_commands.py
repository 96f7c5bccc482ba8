"""``accessio webhook``: URLs that the end of every job (of a folder, or of all) is posted to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from accessio.cli.common import (
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

if TYPE_CHECKING:
    from accessio.service import Job

webhook_app = typer.Typer(
    help="Webhooks: job and sync results posted to URLs (docs/webhooks.md).", no_args_is_help=True
)

AFTER_JOB_S = 15.0  # how long a command that ran a job waits for its webhooks


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="The http(s) URL to post to.")],
    folder: Annotated[
        str | None, typer.Option("--folder", help="Only jobs of this folder and the folders below it (default: all).")
    ] = None,
    events: Annotated[
        str, typer.Option("--events", help="Comma-separated: job.finished, sync.finished.")
    ] = "job.finished,sync.finished",
    allow_private_network: Annotated[
        bool, typer.Option("--allow-private-network", help="Let it reach loopback and private addresses.")
    ] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a webhook; prints its id and its signing secret, which is never shown again.

    Example: accessio webhook add https://ci.example.com/accessio --folder datasets/cars
    """
    with failures_exit():
        view, secret = open_catalog(catalog).webhooks.add(
            url, folder=folder, events=events.split(","), allow_private_network=allow_private_network
        )
    if as_json:
        print_json({**view.to_json(), "secret": secret})
        return
    out.print(f"webhook {view.record.id} posts {', '.join(view.record.events)} to {url}", markup=False)
    out.print(f"secret: {secret}", markup=False)
    err.print("keep the secret now: it is not shown again (receivers check signatures with it)", markup=False)


@webhook_app.command("ls")
def webhook_ls(
    folder: Annotated[str | None, typer.Option("--folder", help="Only this folder's webhooks.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """List webhooks (never their secrets).

    Example: accessio webhook ls --json
    """
    with failures_exit():
        views = open_catalog(catalog).webhooks.all(folder=folder)
    if as_json:
        print_json([view.to_json() for view in views])
        return
    if not views:
        err.print("no webhooks yet: accessio webhook add URL [--folder PATH]", markup=False)
        return
    rows = [
        (v.record.id, v.folder_path or "(all folders)", ",".join(v.record.events), v.record.url,
         "yes" if v.record.allow_private_network else "", v.record.created_at.isoformat()[:19])
        for v in views
    ]  # fmt: skip
    print_table(("id", "folder", "events", "url", "private network", "created at"), rows)


@webhook_app.command("rm")
def webhook_rm(
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id (or a unique start of it).")],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a webhook and its deliveries (pending ones are not sent).

    Example: accessio webhook rm 7c1e
    """
    with failures_exit():
        found = open_catalog(catalog).webhooks.remove(webhook_id)
    if as_json:
        print_json({"id": found, "removed": True})
    else:
        out.print(f"removed webhook {found}", markup=False)


@webhook_app.command("deliveries")
def webhook_deliveries(
    webhook_id: Annotated[str | None, typer.Argument(help="Only this webhook's (id or a unique start).")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only pending, delivered or failed ones.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many, newest first.")] = 50,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """List deliveries, newest first: status, attempts, the last answer or error.

    Example: accessio webhook deliveries --status failed
    """
    from accessio.service.webhook_registry import delivery_json

    with failures_exit():
        found = open_catalog(catalog).webhooks.deliveries(webhook_id, limit=limit, status=status)
    shown = [delivery_json(d) for d in found]
    if as_json:
        print_json(shown)
        return
    if not shown:
        err.print("no deliveries", markup=False)
        return
    rows = [
        (d["id"], d["webhookId"], d["event"], d["jobId"] or "", d["status"], d["attempts"],
         d["lastError"] or (f"HTTP {d['lastStatusCode']}" if d["lastStatusCode"] else ""),
         (d["nextAttemptAt"] or "")[:19], d["createdAt"][:19])
        for d in shown
    ]  # fmt: skip
    print_table(
        ("id", "webhook", "event", "job", "status", "attempts", "last answer", "next attempt", "created at"), rows
    )


@webhook_app.command("retry")
def webhook_retry(
    delivery_id: Annotated[str, typer.Argument(help="A failed delivery's id (or a unique start of it).")],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a failed delivery again (same id and body, attempts from zero), at the next
    `webhook deliver` or within seconds on a running server.

    Example: accessio webhook retry 5b0c
    """
    from accessio.service.webhook_registry import delivery_json

    with failures_exit():
        delivery = open_catalog(catalog).webhooks.send_again(delivery_id)
    if as_json:
        print_json(delivery_json(delivery))
    else:
        out.print(f"delivery {delivery.id} is pending again", markup=False)


@webhook_app.command("deliver")
def webhook_deliver(
    job: Annotated[str | None, typer.Option("--job", help="Only this job's deliveries.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send the deliveries due now, once each (a server does this by itself; failed
    attempts are scheduled again with backoff).

    Example: accessio webhook deliver
    """
    with failures_exit():
        app = open_catalog(catalog)
        job_id = app.job(job).id if job is not None else None
        report = app.webhooks.deliver(job_id=job_id)
    shown = {"delivered": report.delivered, "retrying": report.retrying, "failed": report.failed}
    if as_json:
        print_json(shown)
    else:
        out.print(
            f"{plural(report.delivered, 'delivery', 'deliveries')} delivered, {report.retrying:,} to retry, "
            f"{report.failed:,} failed",
            markup=False,
        )


def deliver_after_job(job: Job) -> None:
    """Send the deliveries of a job this command ran (bounded: ``AFTER_JOB_S``); what
    fails stays pending for a server or ``accessio webhook deliver``. Says so on stderr."""
    report = job.deliver_webhooks(AFTER_JOB_S)
    if report.retrying or report.failed:
        err.print(
            f"webhooks: {report.delivered:,} delivered, {report.retrying + report.failed:,} not "
            f"(see: accessio webhook deliveries --status pending)",
            markup=False,
        )
