"""``accessio serve``, ``accessio user`` and ``accessio token``: the server and its accounts.

The local CLI on the catalog is the operator's tool, with every right; these
commands make the users and tokens the server's callers act as.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated, Any

import typer

from accessio.cli.common import CatalogOption, JsonOption, err, failures_exit, out, print_json, print_table

user_app = typer.Typer(help="Users of the server.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of the server's users.", no_args_is_help=True)

_ANY_ADDRESS = {"0.0.0.0", "::", ""}


def serve(
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    catalog: CatalogOption = None,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="The URL clients reach the server at (for signed URLs).")
    ] = None,
    behind_tls: Annotated[
        bool, typer.Option("--behind-tls", help="A TLS terminator (reverse proxy) serves this server over https.")
    ] = False,
    ssl_certfile: Annotated[
        str | None, typer.Option("--ssl-certfile", help="Serve https with this certificate.")
    ] = None,
    ssl_keyfile: Annotated[str | None, typer.Option("--ssl-keyfile", help="The certificate's private key.")] = None,
    max_body_mb: Annotated[int, typer.Option("--max-body-mb", min=1, help="Larger request bodies get 413.")] = 256,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", min=0, help="Requests per second per token (0: no limit).")
    ] = 100.0,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="An origin allowed by CORS (off unless given).")
    ] = None,
    job_threads: Annotated[int, typer.Option("--job-threads", min=1, help="Small jobs worked at once.")] = 2,
    job_processes: Annotated[
        int, typer.Option("--job-processes", min=1, help="Large jobs worked at once, each in a process.")
    ] = 1,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (each answers requests and works jobs).")
    ] = 1,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            envvar="ACCESSIO_EXECUTOR",
            help="local: jobs run in the server's processes; celery: they go to `accessio worker`s (PostgreSQL).",
        ),
    ] = "local",
    broker_url: Annotated[
        str | None,
        typer.Option("--broker-url", envvar="ACCESSIO_BROKER_URL", help="With --executor celery: the broker."),
    ] = None,
    queue: Annotated[
        str | None, typer.Option("--queue", envvar="ACCESSIO_QUEUE", help="With --executor celery: the queue.")
    ] = None,
    job_share: Annotated[
        float,
        typer.Option(
            "--job-share",
            min=0.01,
            max=1.0,
            help="The share of time jobs keep while requests come in (they rest between chunks; 1: never rest).",
        ),
    ] = 0.1,
) -> None:
    """Serve Encord's storage API (/v2/public), Accessio's own (/api) and signed files.

    Example: accessio serve --port 8080
    """
    import msgspec
    import uvicorn  # the CLI starts fast when not serving

    from accessio.api.app import SETTINGS_VARIABLE, create_app
    from accessio.api.settings import ServerSettings
    from accessio.service.executor import ExecutorSettings

    tls = behind_tls or bool(ssl_certfile)
    if host in _ANY_ADDRESS and not tls:
        err.print(
            f"warning: serving on {host or 'every address'} over plain http: tokens and data cross the network "
            "unencrypted. Put a TLS terminator in front (then pass --behind-tls) or give --ssl-certfile/--ssl-keyfile.",
            markup=False,
        )
    settings = ServerSettings(
        catalog=catalog,
        host=host,
        port=port,
        public_url=public_url,
        max_body_bytes=max_body_mb * 1024 * 1024,
        rate_limit=rate_limit,
        cors_origins=tuple(cors_origin or ()),
        tls_terminated=tls,
        executor=ExecutorSettings(
            threads=job_threads,
            processes=job_processes,
            busy_share=job_share,
            kind=executor,
            broker_url=broker_url,
            queue=queue,
        ),
    )
    if executor not in ("local", "celery"):
        err.print(f"error: --executor {executor!r}: use local or celery", markup=False)
        raise typer.Exit(2)
    with failures_exit():
        if executor == "celery":
            from accessio.cli.worker_commands import setup_exit

            with setup_exit():
                asgi = create_app(settings)
        else:
            asgi = create_app(settings)  # checks the settings and migrates the catalog once, here
    # No access log: query strings carry URL signatures. Open requests get 5 s at
    # shutdown (a long-poll is cut short); running jobs stop at a chunk boundary.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "timeout_graceful_shutdown": 5,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
        "proxy_headers": behind_tls,
        "forwarded_allow_ips": "127.0.0.1" if behind_tls else None,
        "log_level": "info",
    }
    if workers == 1:
        uvicorn.run(asgi, **options)
        return
    # each worker builds its own app from the same settings, and listens on a socket of
    # its own (accessio.api.sockets: connections spread over the workers)
    from uvicorn.supervisors import Multiprocess

    from accessio.api.sockets import shared_address

    os.environ[SETTINGS_VARIABLE] = msgspec.json.encode(settings).decode()
    config = uvicorn.Config("accessio.api.app:app_from_environment", factory=True, workers=workers, **options)
    try:
        address = shared_address(host, port, config.backlog)
    except OSError as exc:
        err.print(f"error: cannot listen on {host}:{port}: {exc.strerror}", markup=False)
        raise typer.Exit(1) from None
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[address or config.bind_socket()]).run()


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, . _ @ + -).")],
    admin: Annotated[bool, typer.Option("--admin", help="An administrator: sees and does everything.")] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user of the server.

    Example: accessio user add alice --admin
    """
    from accessio.catalog import accounts
    from accessio.service import Accessio

    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        user = accounts.add_user(conn, name, is_admin=admin)
    if as_json:
        print_json({"id": user.id, "name": user.name, "isAdmin": user.is_admin})
    else:
        out.print(f"added user {user.name}{' (admin)' if user.is_admin else ''}", markup=False)


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="The user.")],
    catalog: CatalogOption = None,
) -> None:
    """Set a user's password for the web app's sign-in, read from standard input
    (the first line; at least 10 characters). Stored as an argon2id hash.

    Example: accessio user passwd alice < password.txt
    """
    from accessio.service import Accessio
    from accessio.service.passwords import set_password

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"password for {name}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        user = set_password(conn, name, password)
    out.print(f"password set for {user.name}", markup=False)


@user_app.command("ls")
def user_ls(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List the users.

    Example: accessio user ls --json
    """
    from accessio.catalog import accounts
    from accessio.service import Accessio

    with failures_exit(), Accessio(catalog) as app, app.engine.connect() as conn:
        users = accounts.all_users(conn)
    if as_json:
        print_json([{"id": u.id, "name": u.name, "isAdmin": u.is_admin} for u in users])
        return
    from rich.table import Table

    table = Table("name", "admin", "id")
    for user in users:
        table.add_row(user.name, "yes" if user.is_admin else "", user.id)
    out.print(table)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="The user the token acts as.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    expires_days: Annotated[int | None, typer.Option("--expires-days", min=1, help="Days until it expires.")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Create an API token and print it, alone, once (only its hash is kept).

    Example: TOKEN=$(accessio token create alice --label laptop --expires-days 90)
    """
    from accessio.catalog import accounts
    from accessio.service import Accessio

    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        owner = accounts.get_user(conn, user)
        _, secret = accounts.create_token(conn, owner.id, label=label, expires_days=expires_days)
    sys.stdout.write(secret + "\n")


@token_app.command("ls")
def token_ls(
    user: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (never the tokens themselves).

    Example: accessio token ls alice
    """
    from accessio.catalog import accounts
    from accessio.service import Accessio

    with failures_exit(), Accessio(catalog) as app, app.engine.connect() as conn:
        owner_id = accounts.get_user(conn, user).id if user else None
        found = accounts.tokens(conn, owner_id)
        names = accounts.user_names(conn, {t.user_id for t in found})
    shown = [
        {
            "id": t.id,
            "user": names.get(t.user_id, t.user_id),
            "label": t.label,
            "createdAt": t.created_at.isoformat(),
            "expiresAt": t.expires_at.isoformat() if t.expires_at else None,
            "lastUsedAt": t.last_used_at.isoformat() if t.last_used_at else None,
            "revoked": t.revoked_at is not None,
        }
        for t in found
    ]
    if as_json:
        print_json(shown)
        return
    print_table(
        ("id", "user", "label", "created", "expires", "last used", "revoked"),
        [
            (
                t["id"], t["user"], t["label"], str(t["createdAt"])[:19], str(t["expiresAt"] or "")[:19],
                str(t["lastUsedAt"] or "")[:19], "yes" if t["revoked"] else "",
            )
            for t in shown
        ],
    )  # fmt: skip


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from token ls), or a unique start of it.")],
    catalog: CatalogOption = None,
) -> None:
    """Revoke a token: it stops working (within 5 s on a running server).

    Example: accessio token revoke 5b3c...
    """
    from accessio.catalog import accounts
    from accessio.catalog.schema import api_tokens
    from accessio.service import Accessio, lookup

    with failures_exit(), Accessio(catalog) as app, app.engine.begin() as conn:
        token = accounts.revoke_token(conn, lookup.full_id(conn, api_tokens.c.id, token_id, "token"))
    out.print(f"revoked token {token.id}{f' ({token.label})' if token.label else ''}", markup=False)
