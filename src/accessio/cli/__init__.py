"""The ``accessio`` command: a thin skin over the library.

Exit codes: 0 success, 1 the operation failed (an invalid spec, a job that ended in
error), 2 the command could not run (a file that cannot be read, a misused option).

:data:`app` has every command. The ``accessio`` command (:func:`main`) builds only the
group or command its first argument names, when it names one: Typer builds every
option of every command it holds before running one, and importing and building all
of them cost a tenth of ``accessio items ls``'s start. ``accessio --help``, an unknown
name (for its did-you-mean) and anything else get the whole app.
"""

from __future__ import annotations

import gc
import sys
from functools import cache
from importlib import import_module
from typing import Annotated, Any

import typer

from accessio.cli import coercion  # noqa: F401 - plain option values without pydantic (start-up time)
from accessio.cli.common import close_catalogs

# name -> (module, attribute): groups of commands, then commands; --help lists them in this order
_GROUPS = {
    "spec": ("spec_commands", "spec_app"),
    "integration": ("catalog_commands", "integration_app"),
    "folder": ("catalog_commands", "folder_app"),
    "items": ("catalog_commands", "items_app"),
    "jobs": ("job_commands", "jobs_app"),
    "embeddings": ("embedding_commands", "embeddings_app"),
    "search": ("embedding_commands", "search_app"),
    "webhook": ("webhook_commands", "webhook_app"),
    "schema": ("schema_commands", "schema_app"),
    "user": ("server_commands", "user_app"),
    "token": ("server_commands", "token_app"),
    "worker": ("worker_commands", "worker_app"),
}
_COMMANDS = {
    "register": ("job_commands", "register"),
    "sync": ("sync_commands", "sync"),
    "serve": ("server_commands", "serve"),
    "demo": ("spec_commands", "demo"),
}


def _print_version(value: bool) -> None:
    if value:
        from accessio import __version__

        typer.echo(f"accessio {__version__}")
        raise typer.Exit()


def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Register data that lives in object storage into a searchable catalog."""
    ctx.call_on_close(close_catalogs)


def _loaded(where: tuple[str, str]) -> Any:
    module, attribute = where
    return getattr(import_module(f"accessio.cli.{module}"), attribute)


def build_app(only: str | None = None) -> typer.Typer:
    """The ``accessio`` app with every command, or with only the group or command ``only``."""
    built = typer.Typer(
        name="accessio",
        help="Register data that lives in object storage into a searchable catalog.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # Plain help: no help text is read as Rich markup (``bucket[/prefix]`` crashed it)
        # and flags show no ``<bool>`` metavar.
        rich_markup_mode=None,
    )
    built.callback()(_main)
    for name, where in _GROUPS.items():
        if only in (None, name):
            built.add_typer(_loaded(where), name=name)
    for name, where in _COMMANDS.items():
        if only in (None, name):
            built.command(name)(_loaded(where))
    return built


@cache
def _whole_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> typer.Typer:
    """``app``: every command (built at first use)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _whole_app()


_GC_THRESHOLDS = (50_000, 20, 20)  # the collector's, in the command's process (see main)


def main() -> None:
    """Entry point of the ``accessio`` command."""
    # A command's start creates objects by the hundred thousand (SQLAlchemy's modules and
    # the catalog's tables) that live as long as the process: at Python's default
    # threshold (700) the collector walks them again and again, a tenth of `items ls`'s
    # CPU. Collections of the young generation every 50,000 objects instead.
    gc.set_threshold(*_GC_THRESHOLDS)
    first = sys.argv[1] if len(sys.argv) > 1 else None
    build_app(first if first in _GROUPS or first in _COMMANDS else None)()


__all__ = ["app", "build_app", "main"]
