"""``accessio worker``: a Celery worker that works registration chunks, and ``accessio worker ls``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from accessio.cli.common import UNUSABLE, CatalogOption, JsonOption, err, failures_exit, out, print_json

worker_app = typer.Typer(
    help="Work registration jobs on this machine as a Celery worker (PostgreSQL catalog, Redis broker).",
    invoke_without_command=True,
)

BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker-url",
        envvar="ACCESSIO_BROKER_URL",
        show_envvar=True,
        help="The Celery broker, e.g. redis://host:6379/0 (better in ACCESSIO_BROKER_URL: a password stays off ps).",
    ),
]


@worker_app.callback()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Chunks worked at once (processes).")] = 2,
    queues: Annotated[
        list[str] | None, typer.Option("--queues", help="Queues to take chunks from (repeat or comma-separate).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The worker's name (default: accessio-PID@host).")] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery's log level.")] = "INFO",
    catalog: CatalogOption = None,
    broker_url: BrokerOption = None,
) -> None:
    """Run a worker until stopped (SIGTERM finishes the chunks in work first).

    Example: ACCESSIO_CATALOG=postgresql://... ACCESSIO_BROKER_URL=redis://redis:6379/0 accessio worker --concurrency 4
    """
    if ctx.invoked_subcommand is not None:
        return
    from accessio.cluster.broker import DEFAULT_QUEUE
    from accessio.cluster.worker import run_worker

    names = [part.strip() for given in (queues or [DEFAULT_QUEUE]) for part in given.split(",") if part.strip()]
    with failures_exit(), setup_exit():
        run_worker(
            catalog=catalog, broker=broker_url, concurrency=concurrency, queues=names, name=name, loglevel=loglevel
        )


@contextmanager
def setup_exit() -> Iterator[None]:
    """A missing broker or a SQLite catalog for the Celery executor: exit 2 with the message."""
    from accessio.cluster.broker import BrokerMissing
    from accessio.cluster.handoff import NeedsPostgres

    try:
        yield
    except (BrokerMissing, NeedsPostgres) as exc:
        err.print(f"error: {exc.message}", markup=False)
        raise typer.Exit(UNUSABLE) from None


@worker_app.command("ls")
def worker_ls(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List the worker processes: their last heartbeat, the chunks they hold and have done.

    Example: accessio worker ls
    """
    from accessio.catalog import chunks as chunk_store
    from accessio.service import Accessio

    with failures_exit(), Accessio(catalog) as app, app.engine.connect() as conn:
        found = chunk_store.worker_list(conn) if app.engine.dialect.name == "postgresql" else []
    now = datetime.now(UTC)
    shown = [
        {
            "process": worker.holder,
            "node": worker.node,
            "queues": worker.queues,
            "startedAt": worker.started_at.isoformat(),
            "beatAt": worker.beat_at.isoformat(),
            "secondsSinceBeat": round((now - worker.beat_at).total_seconds(), 1),
            "alive": (now - worker.beat_at).total_seconds() < chunk_store.SILENT_S,
            "chunksHeld": worker.chunks_held,
            "chunksDone": worker.chunks_done,
        }
        for worker in found
    ]
    if as_json:
        print_json(shown)
        return
    if not shown:
        out.print("no workers", markup=False)
    for row in shown:
        health = "ALIVE" if row["alive"] else "SILENT"
        out.print(
            f"{row['node']}  {row['process']}  {health:<6} beat {row['secondsSinceBeat']:.0f}s ago  "
            f"{row['chunksHeld']} chunk(s) held, {row['chunksDone']:,} done  queues {row['queues']}",
            markup=False,
        )
