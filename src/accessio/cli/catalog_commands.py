"""``accessio integration``, ``folder`` and ``items``."""

from __future__ import annotations

import textwrap
from typing import Annotated, Any

import typer
from rich.table import Table

from accessio.catalog import folders as folder_store
from accessio.catalog import integrations as integration_store
from accessio.cli.common import INVALID, UNUSABLE, CatalogOption, JsonOption, err, failures_exit, out, print_json
from accessio.search.filter_sql import BUILTINS
from accessio.search.filter_syntax import FilterError, parse_field
from accessio.service import Accessio

integration_app = typer.Typer(help="Storage integrations.", no_args_is_help=True)
folder_app = typer.Typer(help="Folders of the catalog.", no_args_is_help=True)
items_app = typer.Typer(help="Registered items.", no_args_is_help=True)


@integration_app.command("add")
def integration_add(
    name: Annotated[str, typer.Argument(help="A name for the integration.")],
    provider: Annotated[str, typer.Option("--provider", help="local, http, s3, s3Compatible, gcp or azure.")],
    root: Annotated[str | None, typer.Option("--root", help="local: the directory; others: bucket[/prefix].")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="s3Compatible/azure emulator endpoint.")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    access_mode: Annotated[
        str, typer.Option("--access-mode", help="server, strictClientOnly or directAccess.")
    ] = "server",
    credentials: Annotated[
        str | None, typer.Option("--credentials", help="A reference: env, env:PREFIX, profile:NAME, file:PATH.")
    ] = None,
    allow_private_network: Annotated[
        bool, typer.Option("--allow-private-network", help="Let reads reach private and loopback addresses.")
    ] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a storage integration.

    Example: accessio integration add media --provider local --root /data/media
    """
    with failures_exit():
        record = Accessio(catalog).add_integration(
            name,
            provider,
            access_mode=access_mode,
            root=root,
            endpoint=endpoint,
            region=region,
            credentials=credentials,
            allow_private_network=allow_private_network,
        )
    if as_json:
        print_json(_integration_json(record))
    else:
        out.print(f"added integration {record.name} ({record.provider}, {record.access_mode})", markup=False)


def _integration_json(record: object) -> dict[str, object]:
    fields = ("id", "name", "provider", "access_mode", "root", "endpoint", "region", "credentials_ref")
    names = ("integrationUuid", "title", "provider", "accessMode", "root", "endpoint", "region", "credentials")
    return {n: getattr(record, f) for f, n in zip(fields, names, strict=True)}


@integration_app.command("ls")
def integration_ls(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List integrations (credentials are shown as the reference, never a secret).

    Example: accessio integration ls --json
    """
    with failures_exit():
        records = Accessio(catalog).integrations()
    if as_json:
        print_json([_integration_json(r) for r in records])
        return
    table = Table("name", "provider", "access mode", "root / endpoint", "credentials")
    for r in records:
        table.add_row(r.name, r.provider, r.access_mode, r.root or r.endpoint or "", r.credentials_ref or "")
    out.print(table)


@folder_app.command("create")
def folder_create(
    path: Annotated[str, typer.Argument(help="Like datasets/cars; missing parents are created.")],
    description: Annotated[str, typer.Option("--description")] = "",
    owner: Annotated[
        str | None, typer.Option("--owner", help="The user of the server who owns it (its admin); else the operator.")
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a folder (and its parents).

    Example: accessio folder create datasets/cars --description "Dashcam" --owner alice
    """
    with failures_exit():
        folder = Accessio(catalog).create_folder(path, description, owner=owner)
    if as_json:
        print_json(_folder_json(folder))
    else:
        out.print(f"created folder {folder.path}", markup=False)


def _folder_json(folder: object) -> dict[str, object]:
    return {
        "uuid": getattr(folder, "id"),  # noqa: B009 - dataclass from the catalog
        "parent": getattr(folder, "parent_id"),  # noqa: B009
        "path": getattr(folder, "path"),  # noqa: B009
        "name": getattr(folder, "name"),  # noqa: B009
        "description": getattr(folder, "description"),  # noqa: B009
    }


@folder_app.command("ls")
def folder_ls(
    path: Annotated[str | None, typer.Argument(help="The folder to list; the top level when left out.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the folders under a folder.

    Example: accessio folder ls datasets
    """
    with failures_exit():
        found = Accessio(catalog).folders(path)
    if as_json:
        print_json([_folder_json(f) for f in found])
        return
    for folder in found:
        out.print(folder.path, markup=False)


@items_app.command("ls")
def items_ls(
    folder: Annotated[str, typer.Option("--folder", help="The folder's path.")],
    item_type: Annotated[str | None, typer.Option("--type", help="Only this item type (video, image, ...).")] = None,
    where: Annotated[str | None, typer.Option("--where", help="A filter: 'frames > 100' (docs/filters.md).")] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="A built-in field or schema key; name by default.")] = None,
    desc: Annotated[bool, typer.Option("--desc", help="Descending (items without a value still last).")] = False,
    after: Annotated[str | None, typer.Option("--after", help="The cursor the previous page printed.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 100,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the items of a folder, filtered and sorted; a page at a time.

    When more items follow, the cursor of the next page is printed on stderr
    ("next page: --after ..."); stdout keeps the items alone (a JSON list with --json).

    Example: accessio items ls --folder datasets/cars --where 'frames > 100' --sort captured_at --desc --json
    """
    with failures_exit():
        try:
            with Accessio(catalog) as app:
                page = app.items_page(
                    folder, item_type=item_type, where=where, sort=sort, desc=desc, after=after, limit=limit
                )
        except FilterError as exc:
            err.print(f"error: --{exc.message}", markup=False)
            if exc.excerpt:
                err.print(textwrap.indent(exc.excerpt, "  "), markup=False)
            raise typer.Exit(UNUSABLE if exc.option == "after" else INVALID) from None  # a cursor is an argument
    if as_json:
        print_json(page.items)
    else:
        shown = _sort_column(sort)
        table = Table("uuid", "type", "name", "size", "mime type", *([shown[0]] if shown else []))
        for item in page.items:
            size = f"{item['fileSize']:,}" if item["fileSize"] is not None else ""
            extra = [_cell(item, shown)] if shown else []
            table.add_row(item["uuid"], item["itemType"], item["name"], size, item["mimeType"] or "", *extra)
        out.print(table)
    if page.next_cursor:
        err.print(f"next page: --after {page.next_cursor}", markup=False)


def _sort_column(sort: str | None) -> tuple[str, bool] | None:
    """The column that shows the sort key's values (its name, and whether it is a built-in field)."""
    if not sort or not sort.strip():
        return None
    try:
        subject = parse_field(sort.strip())
    except FilterError:
        return None
    builtin = not subject.quoted and subject.name in BUILTINS
    if builtin and subject.name in ("uuid", "itemType", "name", "fileSize", "mimeType"):
        return None
    return subject.name, builtin


def _cell(item: dict[str, Any], shown: tuple[str, bool]) -> str:
    name, builtin = shown
    value = item.get(name) if builtin else item["clientMetadata"].get(name)
    return "" if value is None else str(value)


@items_app.command("show")
def items_show(
    item: Annotated[str, typer.Argument()], catalog: CatalogOption = None, as_json: JsonOption = True
) -> None:
    """Show one item (with its children for groups and series) as JSON.

    Example: accessio items show 6f1c...
    """
    with failures_exit():
        print_json(Accessio(catalog).item(item))


@items_app.command("url")
def items_url(
    item: Annotated[str, typer.Argument()],
    expires: Annotated[int | None, typer.Option("--expires", min=1, help="Seconds the URL stays valid.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a signed URL for an item's object.

    Example: accessio items url 6f1c... --expires 600
    """
    with failures_exit():
        url = Accessio(catalog).signed_url(item, expires)
    if as_json:
        print_json({"uuid": item, "signedUrl": url})
    else:
        out.print(url, markup=False)


@folder_app.command("share")
def folder_share(
    path: Annotated[str, typer.Argument(help="The folder's path.")],
    user: Annotated[str, typer.Argument(help="The user to share it with.")],
    role: Annotated[str, typer.Option("--role", help="viewer, editor or admin.")] = "viewer",
    catalog: CatalogOption = None,
) -> None:
    """Share a folder, and every folder below it, with a user of the server.

    Example: accessio folder share datasets/cars bob --role editor
    """
    from accessio.catalog import accounts  # noqa: PLC0415

    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        granted = accounts.Role.parse(role)
        folder = folder_store.get(conn, path)
        accounts.share_folder(conn, folder.id, accounts.get_user(conn, user).id, granted)
    out.print(f"shared {folder.path} with {user} as {granted.wire}", markup=False)


@folder_app.command("unshare")
def folder_unshare(
    path: Annotated[str, typer.Argument(help="The folder's path.")],
    user: Annotated[str, typer.Argument(help="The user it is shared with.")],
    catalog: CatalogOption = None,
) -> None:
    """Stop sharing a folder with a user.

    Example: accessio folder unshare datasets/cars bob
    """
    from accessio.catalog import accounts  # noqa: PLC0415

    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        folder = folder_store.get(conn, path)
        removed = accounts.unshare_folder(conn, folder.id, accounts.get_user(conn, user).id)
    out.print(f"{folder.path} {'is no longer' if removed else 'was not'} shared with {user}", markup=False)


@integration_app.command("grant")
def integration_grant(
    name: Annotated[str, typer.Argument(help="The integration.")],
    user: Annotated[str, typer.Argument(help="The user who may register through it.")],
    catalog: CatalogOption = None,
) -> None:
    """Let a user of the server register through an integration.

    Example: accessio integration grant media bob
    """
    from accessio.catalog import accounts  # noqa: PLC0415

    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        record = integration_store.get(conn, name)
        accounts.grant_integration(conn, record.id, accounts.get_user(conn, user).id)
    out.print(f"{user} may register through {record.name}", markup=False)


@integration_app.command("ungrant")
def integration_ungrant(
    name: Annotated[str, typer.Argument(help="The integration.")],
    user: Annotated[str, typer.Argument(help="The user.")],
    catalog: CatalogOption = None,
) -> None:
    """Take back a user's use of an integration.

    Example: accessio integration ungrant media bob
    """
    from accessio.catalog import accounts  # noqa: PLC0415

    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        record = integration_store.get(conn, name)
        removed = accounts.revoke_integration(conn, record.id, accounts.get_user(conn, user).id)
    out.print(f"{user} {'may no longer' if removed else 'could not'} register through {record.name}", markup=False)


@integration_app.command("set")
def integration_set(
    name: Annotated[str, typer.Argument(help="The integration.")],
    upload_target: Annotated[
        bool | None,
        typer.Option("--upload-target/--no-upload-target", help="Files uploaded through the server go here."),
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Change an integration's settings: whether it takes the server's uploads.

    Example: accessio integration set media --upload-target
    """
    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        record = integration_store.get(conn, name)
        if upload_target is not None:
            integration_store.set_upload_target(conn, record.id, upload_target)
    if upload_target is not None:
        state = "takes" if upload_target else "no longer takes"
        out.print(f"{record.name} {state} the server's uploads (under accessio-uploads/)", markup=False)
