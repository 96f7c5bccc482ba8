"""What every command shares: exit codes, output, the catalog option, error rendering."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, cast

import msgspec
import typer

from accessio.errors import AccessioError

if TYPE_CHECKING:
    from rich.console import Console

    from accessio.service import Accessio

OK, INVALID, UNUSABLE = 0, 1, 2


class _Console:
    """A Rich console made when it is first used: importing Rich is a twentieth of the
    start of a command that prints plain text (``items ls``, ``--json``) or nothing."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return getattr(self._console, name)


# Typed as the consoles they stand for (everything they are asked for is the console's).
out = cast("Console", _Console(stderr=False))
err = cast("Console", _Console(stderr=True))

CatalogOption = Annotated[
    str | None,
    typer.Option("--catalog", envvar="ACCESSIO_CATALOG", help="Catalog: a SQLite file or postgresql://... URL."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


_opened: list[Accessio] = []


def open_catalog(catalog: str | None) -> Accessio:
    """The catalog a command works on (imported here: ``accessio --help`` needs none of it),
    closed when the command ends (:func:`close_catalogs`)."""
    from accessio.service import Accessio

    app = Accessio(catalog)
    _opened.append(app)
    return app


def close_catalogs() -> None:
    """Release the connections of every catalog a command opened (a PostgreSQL server
    sees them closed, not dropped)."""
    while _opened:
        _opened.pop().close()


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Columns of plain text, never cut: every id can be copied whole, and ``grep``,
    ``cut`` and ``awk`` read the lines (a cell's own whitespace is kept as one space)."""
    cells = [[" ".join(str(cell).split()) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[n]) for row in cells)]) for n, h in enumerate(headers)]
    lines = [headers, *cells]
    write = sys.stdout.write
    for line in lines:
        write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n")


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 unit``, ``2 units``, ``1,000 series`` (``many``: the plural when not noun + s)."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"


def print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


@contextmanager
def failures_exit() -> Iterator[None]:
    """Render Accessio errors as one line on stderr and exit 1 (2 for bad arguments)."""
    try:
        yield
    except AccessioError as exc:
        err.print(f"error: {exc.message}", markup=False)
        raise typer.Exit(UNUSABLE if exc.status == 400 and exc.code == "invalid_name" else INVALID) from None
    except ValueError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(UNUSABLE) from None
