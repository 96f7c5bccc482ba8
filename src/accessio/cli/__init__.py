"""The ``accessio`` command: a thin skin over the library.

Exit codes: 0 success, 1 the operation failed (an invalid spec, a job that ended in
error), 2 the command could not run (a file that cannot be read, a misused option).
"""

from __future__ import annotations

from typing import Annotated

import typer

from accessio.cli.catalog_commands import folder_app, integration_app, items_app
from accessio.cli.common import close_catalogs
from accessio.cli.embedding_commands import embeddings_app, search_app
from accessio.cli.job_commands import jobs_app, register
from accessio.cli.schema_commands import schema_app
from accessio.cli.server_commands import serve, token_app, user_app
from accessio.cli.spec_commands import demo, spec_app
from accessio.cli.sync_commands import sync
from accessio.cli.webhook_commands import webhook_app
from accessio.cli.worker_commands import worker_app

app = typer.Typer(
    name="accessio",
    help="Register data that lives in object storage into a searchable catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: no help text is read as Rich markup (``bucket[/prefix]`` crashed it)
    # and flags show no ``<bool>`` metavar.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from accessio import __version__

        typer.echo(f"accessio {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Register data that lives in object storage into a searchable catalog."""
    ctx.call_on_close(close_catalogs)


app.add_typer(spec_app, name="spec")
app.add_typer(integration_app, name="integration")
app.add_typer(folder_app, name="folder")
app.add_typer(items_app, name="items")
app.add_typer(jobs_app, name="jobs")
app.add_typer(embeddings_app, name="embeddings")
app.add_typer(search_app, name="search")
app.add_typer(webhook_app, name="webhook")
app.add_typer(schema_app, name="schema")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(worker_app, name="worker")
app.command("register")(register)
app.command("sync")(sync)
app.command("serve")(serve)
app.command("demo")(demo)


def main() -> None:
    """Entry point of the ``accessio`` command."""
    app()


__all__ = ["app", "main"]
