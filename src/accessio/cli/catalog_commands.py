"""``accessio integration``, ``folder`` and ``items``."""

from __future__ import annotations

import textwrap
from typing import Annotated, Any

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
from accessio.errors import AccessioError

WRITE_PREFIX_HELP = "Where Accessio may write (image sequences' videos): a prefix URL inside the integration."
integration_app = typer.Typer(help="Storage integrations.", no_args_is_help=True)
folder_app = typer.Typer(help="Folders of the catalog.", no_args_is_help=True)
items_app = typer.Typer(help="Registered items.", no_args_is_help=True)

MAX_EXPIRY = 7 * 24 * 3600  # accessio.storage.integration.MAX_SIGN_TTL_S (a test keeps them equal)


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
    write_prefix: Annotated[str | None, typer.Option("--write-prefix", help=WRITE_PREFIX_HELP)] = None,
    max_expiry: Annotated[
        int, typer.Option("--max-expiry", min=1, max=MAX_EXPIRY, help="The longest a signed URL lives, in seconds.")
    ] = 3600,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a storage integration.

    Example: accessio integration add media --provider local --root /data/media --write-prefix /data/media/videos
    """
    from accessio.storage.errors import AddressNotAllowed

    with failures_exit():
        try:
            record = open_catalog(catalog).add_integration(
                name,
                provider,
                access_mode=access_mode,
                root=root,
                endpoint=endpoint,
                region=region,
                credentials=credentials,
                allow_private_network=allow_private_network,
                sign_ttl_s=max_expiry,
                write_prefix=write_prefix,
            )
        except AddressNotAllowed as exc:
            err.print(
                f"error: {exc.message}; if this endpoint is yours (an emulator, a store on your network), "
                "add the integration with --allow-private-network",
                markup=False,
            )
            raise typer.Exit(INVALID) from None
    if as_json:
        print_json(_integration_json(record))
    else:
        out.print(f"added integration {record.name} ({record.provider}, {record.access_mode})", markup=False)


def _integration_json(record: object) -> dict[str, object]:
    fields = (
        "id",
        "name",
        "provider",
        "access_mode",
        "root",
        "endpoint",
        "region",
        "credentials_ref",
        "sign_ttl_s",
        "write_prefix",
    )
    names = (
        "integrationUuid", "title", "provider", "accessMode", "root", "endpoint", "region", "credentials",
        "maxExpirySeconds", "writePrefix",
    )  # fmt: skip
    return {n: getattr(record, f) for f, n in zip(fields, names, strict=True)}


@integration_app.command("ls")
def integration_ls(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List integrations (credentials are shown as the reference, never a secret).

    Example: accessio integration ls --json
    """
    with failures_exit():
        records = open_catalog(catalog).integrations()
    if as_json:
        print_json([_integration_json(r) for r in records])
        return
    print_table(
        ("name", "provider", "access mode", "root / endpoint", "credentials", "max expiry"),
        [
            (r.name, r.provider, r.access_mode, r.root or r.endpoint or "", r.credentials_ref or "", f"{r.sign_ttl_s}s")
            for r in records
        ],
    )


@folder_app.command("create")
def folder_create(
    path: Annotated[str, typer.Argument(help="Like datasets/cars; missing parents are created.")],
    description: Annotated[str, typer.Option("--description")] = "",
    owner: Annotated[
        str | None, typer.Option("--owner", help="The user of the server who owns it (its admin); else the operator.")
    ] = None,
    sync: Annotated[
        str | None,
        typer.Option(
            "--sync",
            metavar="INTEGRATION:PREFIX",
            help="Make it a cloud-synced folder that follows this prefix (then: accessio sync PATH).",
        ),
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a folder (and its parents).

    Example: accessio folder create datasets/cars --description "Dashcam" --owner alice
    Example: accessio folder create datasets/cars --sync media:s3://dashcam/cars/
    """
    source = None
    if sync is not None:
        from accessio.service.sync import parse_sync_source

        with failures_exit():
            try:
                source = parse_sync_source(sync)
            except AccessioError as exc:
                err.print(f"error: {exc.message}", markup=False)
                raise typer.Exit(UNUSABLE) from None
    with failures_exit():
        folder = open_catalog(catalog).create_folder(path, description, owner=owner, sync=source)
    if as_json:
        print_json(_folder_json(folder))
    elif folder.sync_prefix is not None:
        out.print(f"created folder {folder.path}, synced from {folder.sync_prefix}: accessio sync {folder.path}",
                  markup=False)  # fmt: skip
    else:
        out.print(f"created folder {folder.path}", markup=False)


def _folder_json(folder: object) -> dict[str, object]:
    shown: dict[str, object] = {
        "uuid": getattr(folder, "id"),  # noqa: B009 - dataclass from the catalog
        "parent": getattr(folder, "parent_id"),  # noqa: B009
        "path": getattr(folder, "path"),  # noqa: B009
        "name": getattr(folder, "name"),  # noqa: B009
        "description": getattr(folder, "description"),  # noqa: B009
    }
    prefix = getattr(folder, "sync_prefix", None)
    if prefix is not None:
        synced_at = getattr(folder, "synced_at", None)
        shown["sync"] = {
            "integrationUuid": getattr(folder, "sync_integration_id", None),
            "remoteUrl": prefix,
            "syncedAt": synced_at.isoformat() if synced_at else None,
        }
    return shown


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
        found = open_catalog(catalog).folders(path)
    if as_json:
        print_json([_folder_json(f) for f in found])
        return
    for folder in found:
        out.print(folder.path, markup=False)


@items_app.command("ls")
def items_ls(
    folder: Annotated[str, typer.Option("--folder", help="The folder's path.")],
    item_type: Annotated[
        str | None,
        typer.Option("--type", help="Only this item type: video, image, imageGroup, ... (or videos, image_groups...)."),
    ] = None,
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
    from accessio.search.filter_syntax import FilterError

    with failures_exit():
        try:
            with open_catalog(catalog) as app:
                page = app.items_page(
                    folder,
                    item_type=item_type,
                    where=where,
                    sort=sort,
                    desc=desc,
                    after=after,
                    limit=limit,
                    check_keys=True,
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
        rows = []
        for item in page.items:
            size = f"{item['fileSize']:,}" if item["fileSize"] is not None else ""
            extra = [_cell(item, shown)] if shown else []
            rows.append((item["uuid"], item["itemType"], item["name"], size, item["mimeType"] or "", *extra))
        print_table(("uuid", "type", "name", "size", "mime type", *([shown[0]] if shown else [])), rows)
    if page.next_cursor:
        err.print(f"next page: --after {page.next_cursor}", markup=False)


def _sort_column(sort: str | None) -> tuple[str, bool] | None:
    """The column that shows the sort key's values (its name, and whether it is a built-in field)."""
    from accessio.search.filter_sql import BUILTINS
    from accessio.search.filter_syntax import FilterError, parse_field

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
        print_json(open_catalog(catalog).item(item))


@items_app.command("url")
def items_url(
    item: Annotated[str, typer.Argument()],
    expires: Annotated[int | None, typer.Option("--expires", min=1, help="Seconds the URL stays valid.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a signed URL for an item's object (its integration bounds --expires).

    Example: accessio items url 6f1c... --expires 600
    """
    from accessio.storage.errors import ExpiryTooLong

    with failures_exit():
        app = open_catalog(catalog)
        found = app.item(item)
        try:
            url = app.signed_url(found["uuid"], expires)
        except ExpiryTooLong as exc:
            err.print(
                f"error: --expires {exc.message}; raise the limit with: "
                f"accessio integration set {exc.integration} --max-expiry {exc.asked_s}",
                markup=False,
            )
            raise typer.Exit(UNUSABLE) from None
    if as_json:
        print_json({"uuid": found["uuid"], "signedUrl": url})
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
    from accessio.catalog import accounts
    from accessio.service import lookup

    with failures_exit(), open_catalog(catalog) as app, app.engine.begin() as conn:
        granted = accounts.Role.parse(role)
        folder = lookup.folder(conn, path)
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
    from accessio.catalog import accounts
    from accessio.service import lookup

    with failures_exit(), open_catalog(catalog) as app, app.engine.begin() as conn:
        folder = lookup.folder(conn, path)
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
    from accessio.catalog import accounts
    from accessio.service import lookup

    with failures_exit(), open_catalog(catalog) as app, app.engine.begin() as conn:
        record = lookup.integration(conn, name)
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
    from accessio.catalog import accounts
    from accessio.service import lookup

    with failures_exit(), open_catalog(catalog) as app, app.engine.begin() as conn:
        record = lookup.integration(conn, name)
        removed = accounts.revoke_integration(conn, record.id, accounts.get_user(conn, user).id)
    out.print(f"{user} {'may no longer' if removed else 'could not'} register through {record.name}", markup=False)


@integration_app.command("set")
def integration_set(
    name: Annotated[str, typer.Argument(help="The integration.")],
    upload_target: Annotated[
        bool | None,
        typer.Option("--upload-target/--no-upload-target", help="Files uploaded through the server go here."),
    ] = None,
    write_prefix: Annotated[str | None, typer.Option("--write-prefix", help=WRITE_PREFIX_HELP)] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Take the write prefix away.")] = False,
    max_expiry: Annotated[
        int | None,
        typer.Option("--max-expiry", min=1, max=MAX_EXPIRY, help="The longest a signed URL lives, in seconds."),
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Change an integration's settings: whether it takes the server's uploads, where it
    may write, and how long the URLs it signs may live (7 days at most).

    Example: accessio integration set media --upload-target --max-expiry 86400
    Example: accessio integration set media --write-prefix s3://media/accessio-videos
    """
    from accessio.catalog import integrations as integration_store
    from accessio.service import lookup

    if write_prefix is not None and read_only:
        err.print("error: give --write-prefix or --read-only, not both", markup=False)
        raise typer.Exit(INVALID)
    changes_prefix = write_prefix is not None or read_only
    if upload_target is None and max_expiry is None and not changes_prefix:
        err.print(
            "nothing to change: give --upload-target, --no-upload-target, --max-expiry, --write-prefix or --read-only",
            markup=False,
        )
        raise typer.Exit(UNUSABLE)
    with failures_exit(), open_catalog(catalog) as app:
        with app.engine.begin() as conn:
            record = lookup.integration(conn, name)
            if upload_target is not None:
                integration_store.set_upload_target(conn, record.id, upload_target)
        if max_expiry is not None:
            app.set_max_expiry(record.id, max_expiry)
        if changes_prefix:
            record = app.set_write_prefix(record.id, write_prefix)
    if upload_target is not None:
        state = "takes" if upload_target else "no longer takes"
        out.print(f"{record.name} {state} the server's uploads (under accessio-uploads/)", markup=False)
    if max_expiry is not None:
        out.print(f"URLs signed through {record.name} live at most {plural(max_expiry, 'second')}", markup=False)
    if changes_prefix:
        where = f"may write under {record.write_prefix}" if record.write_prefix else "is read-only"
        out.print(f"{record.name} {where}", markup=False)
