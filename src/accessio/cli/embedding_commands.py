"""``accessio embeddings`` (import, map) and ``accessio search similar``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from accessio.cli.common import (
    INVALID,
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

MAP_LIMIT = 50_000  # accessio.search.projection.MAP_LIMIT, without importing numpy to print --help (a test pins it)

embeddings_app = typer.Typer(help="Custom embeddings: import vectors, draw a key's map.", no_args_is_help=True)
search_app = typer.Typer(help="Search the catalog.", no_args_is_help=True)


@embeddings_app.command("import")
def embeddings_import(
    file: Annotated[Path, typer.Argument(help="JSON Lines (or a JSON array) of {item|url, key, vector, frame?}.")],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import vectors for registered items, all or nothing (docs/embeddings.md).

    Example: accessio embeddings import vectors.jsonl
    """
    from accessio.jobs.embedding_import import EmbeddingImportInvalid

    with failures_exit():
        try:
            report = open_catalog(catalog).import_embeddings(file)
        except EmbeddingImportInvalid as exc:
            err.print(f"error: {exc.source}: nothing imported, {plural(exc.total, 'problem')}:", markup=False)
            for problem in exc.problems[:20]:
                err.print(f"  {problem}", markup=False)
            if exc.total > 20:
                err.print(f"  ... and {exc.total - 20:,} more", markup=False)
            raise typer.Exit(INVALID) from None
    if as_json:
        print_json({"imported": report.imported, "replaced": report.replaced, "items": report.items})
    else:
        out.print(
            f"imported {plural(report.imported, 'vector')} for {plural(report.items, 'item')} "
            f"({report.replaced:,} replaced)",
            markup=False,
        )


@embeddings_app.command("map")
def embeddings_map(
    key: Annotated[str, typer.Argument(help="An embedding key of the metadata schema.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The PNG file to write.")],
    color_by: Annotated[
        str | None, typer.Option("--color-by", help="A client metadata key whose values colour the points.")
    ] = None,
    method: Annotated[str, typer.Option("--method", help="pca, or umap when umap-learn is installed.")] = "pca",
    limit: Annotated[int, typer.Option("--limit", min=2, help="At most this many points (a seeded sample).")] = (
        MAP_LIMIT
    ),
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw a 2D map (PCA by default) of an embedding key's vectors as a PNG scatter plot.

    Example: accessio embeddings map clip --color-by weather -o map.png
    """
    from accessio.search.map_image import matplotlib_available, write_png

    if not matplotlib_available():
        err.print("error: drawing a map needs matplotlib: pip install 'accessio[map]'", markup=False)
        raise typer.Exit(UNUSABLE)
    with failures_exit():
        drawn = open_catalog(catalog).embedding_map(key, color_by=color_by, method=method, limit=limit)
        write_png(drawn, output)
    if as_json:
        print_json(drawn.to_json())
    else:
        shown = len(drawn.points)
        out.print(f"wrote {output}: {shown:,} of {drawn.total:,} vectors under {key!r}", markup=False)


@search_app.command("similar")
def search_similar(
    key: Annotated[str, typer.Option("--key", help="The embedding key to compare by.")],
    item: Annotated[str | None, typer.Option("--item", help="Search near this item's vector.")] = None,
    vector: Annotated[
        Path | None, typer.Option("--vector", help="Search near this vector: a file holding a JSON array of numbers.")
    ] = None,
    frame: Annotated[int | None, typer.Option("--frame", help="With --item: that video frame's vector.")] = None,
    k: Annotated[int, typer.Option("--k", help="How many results.")] = 10,
    where: Annotated[str | None, typer.Option("--where", help="Only items this filter matches.")] = None,
    folder: Annotated[str | None, typer.Option("--folder", help="Only items of this folder.")] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Exact search, not the ANN index.")] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """The items (or video frames) nearest an item or a vector under an embedding key,
    nearest first, by cosine distance.

    Example: accessio search similar --item 6f1c... --key clip --k 5 --where 'weather = "sunny"'
    """
    if (item is None) == (vector is None):
        err.print("error: give --item or --vector (one of them)", markup=False)
        raise typer.Exit(UNUSABLE)
    query: list[float] | None = None
    if vector is not None:
        query = _read_vector(vector)
    with failures_exit():
        app = open_catalog(catalog)
        hits = app.similar(key, item=item, frame=frame, vector=query, k=k, where=where, folder=folder, exact=exact)
        found = [(hit, app.item(hit.item_id)) for hit in hits]
    if as_json:
        print_json([{"item": shown, "frame": hit.frame, "distance": hit.distance} for hit, shown in found])
        return
    rows = [
        (str(rank), f"{hit.distance:.4f}", shown["name"], "" if hit.frame is None else str(hit.frame), shown["uuid"])
        for rank, (hit, shown) in enumerate(found, 1)
    ]
    print_table(("#", "distance", "name", "frame", "item"), rows)


def _read_vector(path: Path) -> list[float]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        err.print(f"error: {path}: cannot be read: {exc.strerror or exc}", markup=False)
        raise typer.Exit(UNUSABLE) from None
    except ValueError as exc:
        err.print(f"error: {path}: not JSON: {exc}", markup=False)
        raise typer.Exit(UNUSABLE) from None
    if not isinstance(values, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        err.print(f"error: {path}: expected a JSON array of numbers", markup=False)
        raise typer.Exit(UNUSABLE)
    return [float(v) for v in values]
