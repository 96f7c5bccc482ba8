"""``accessio schema``: the catalog's metadata schema (SPEC section 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    print_json,
)

if TYPE_CHECKING:
    from accessio.catalog.metadata_schema import KeyType, MetadataSchema

schema_app = typer.Typer(help="The metadata schema: a type for each client metadata key.", no_args_is_help=True)

Key = Annotated[str, typer.Argument(help="The client metadata key (case-sensitive).", show_default=False)]


def _done(schema: MetadataSchema, key: str, what: str, as_json: bool) -> None:
    if as_json:
        print_json({key: schema.to_json()[key]})
    else:
        out.print(f"{what} key {json.dumps(key, ensure_ascii=False)}: {_type_text(schema.keys[key])}", markup=False)


def _type_text(key_type: KeyType) -> str:
    from accessio.catalog.metadata_schema import EmbeddingKey, EnumKey, Tombstone, describe

    match key_type:
        case Tombstone(None):
            return "deleted (hard: cannot be restored)"
        case Tombstone(previous):
            assert previous is not None
            return f"deleted (restorable: {_type_text(previous)})"
        case EnumKey(values):
            return "enum: " + ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
        case EmbeddingKey(size):
            return f"embedding, size {size}"
        case _:
            return describe(key_type)


@schema_app.command("add-scalar")
def add_scalar(
    key: Key,
    hint: Annotated[
        str,
        typer.Argument(
            metavar="TYPE", help="number, varchar, text, boolean, datetime or uuid (string, long_string: aliases)."
        ),
    ],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give a key a scalar type.

    Example: accessio schema add-scalar frames number
    """
    with failures_exit():
        schema = open_catalog(catalog).schema_add_scalar(key, hint)
    _done(schema, key, "added", as_json)


@schema_app.command("add-enum")
def add_enum(
    key: Key,
    values: Annotated[list[str], typer.Argument(help="The options (1 to 255, case-sensitive).", show_default=False)],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a key an enum: its values must be one of the options.

    Example: accessio schema add-enum weather sunny rain snow
    """
    with failures_exit():
        schema = open_catalog(catalog).schema_add_enum(key, values)
    _done(schema, key, "added", as_json)


@schema_app.command("add-enum-options")
def add_enum_options(
    key: Key,
    values: Annotated[list[str], typer.Argument(help="Options to append.", show_default=False)],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Append options to an enum key.

    Example: accessio schema add-enum-options weather fog
    """
    with failures_exit():
        schema = open_catalog(catalog).schema_add_enum_options(key, values)
    _done(schema, key, "extended", as_json)


@schema_app.command("add-embedding")
def add_embedding(
    key: Key,
    size: Annotated[int, typer.Argument(help="Numbers per embedding, 1 to 4096.", show_default=False)],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a key an embedding: a list of SIZE numbers.

    Example: accessio schema add-embedding clip 512
    """
    with failures_exit():
        schema = open_catalog(catalog).schema_add_embedding(key, size)
    _done(schema, key, "added", as_json)


@schema_app.command("add-geospatial")
def add_geospatial(key: Key, catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """Make a key a position: {"latitude": -90..90, "longitude": -180..180}.

    Example: accessio schema add-geospatial site
    """
    with failures_exit():
        schema = open_catalog(catalog).schema_add_geospatial(key)
    _done(schema, key, "added", as_json)


@schema_app.command("delete")
def delete(
    key: Key,
    hard: Annotated[
        bool, typer.Option("--hard", help="Forget the type: no restore, the key can be defined anew.")
    ] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a key (soft unless --hard: `schema restore` brings it back).

    Example: accessio schema delete weather --hard
    """
    with failures_exit():
        schema = open_catalog(catalog).schema_delete(key, hard=hard)
    _done(schema, key, "deleted", as_json)


@schema_app.command("restore")
def restore(key: Key, catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """Restore a soft-deleted key with the type it had.

    Example: accessio schema restore weather
    """
    with failures_exit():
        schema = open_catalog(catalog).schema_restore(key)
    _done(schema, key, "restored", as_json)


@schema_app.command("show")
def show(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """Show the schema (with --json: the same document as `schema export`).

    Example: accessio schema show
    """
    with failures_exit():
        schema = open_catalog(catalog).schema()
    if as_json:
        print_json(schema.to_json())
        return
    if not schema.keys:
        out.print("the metadata schema is empty", markup=False)
        return
    from rich.table import Table

    table = Table("key", "type")
    for key, key_type in schema.keys.items():
        table.add_row(key, _type_text(key_type))
    out.print(table)


@schema_app.command("export")
def export(catalog: CatalogOption = None) -> None:
    """Print the schema as JSON, ready for `schema import` (here or in another catalog).

    Example: accessio schema export > schema.json
    """
    with failures_exit():
        print_json(open_catalog(catalog).schema_export())


@schema_app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="A JSON schema document, as `schema export` prints.", show_default=False)
    ],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replace the whole schema with a document (checked first: nothing changes if a key is invalid).

    Example: accessio schema import schema.json
    """
    try:
        text = file.read_bytes()
    except OSError as exc:
        err.print(f"error: {file}: cannot read the file: {exc.strerror or exc}", markup=False)
        raise typer.Exit(UNUSABLE) from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:  # also bytes that are not UTF-8
        err.print(f"error: {file}: not a JSON document: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    from accessio.catalog.metadata_schema import MetadataSchemaError

    with failures_exit():
        try:
            schema = open_catalog(catalog).schema_import(doc, source=str(file))
        except MetadataSchemaError as exc:
            err.print(f"error: {exc.message}", markup=False)
            for problem in exc.problems[1:]:
                err.print(f"  {problem}", markup=False)
            raise typer.Exit(INVALID) from None
    if as_json:
        print_json(schema.to_json())
    else:
        count = len(schema.keys)
        out.print(f"imported {count} key{'s' * (count != 1)} from {file}", markup=False)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise ValueError(f"the key {json.dumps(key, ensure_ascii=False)} appears twice")
        doc[key] = value
    return doc


@schema_app.command("verify")
def verify(
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after this many violations.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """List every stored client metadata value that breaks the schema; exit 1 when there is one.

    Example: accessio schema verify --limit 100
    """
    with failures_exit():
        found = open_catalog(catalog).schema_verify(limit)
    if as_json:
        print_json([v.to_json() for v in found])
    elif found:
        for violation in found:
            out.print(violation.message(), markup=False)
    else:
        out.print("every stored value matches the schema", markup=False)
    raise typer.Exit(INVALID if found else OK)
