"""The metadata schema, the integrations (administrators) and the 2D embedding map."""

from __future__ import annotations

import asyncio
from typing import Any

from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.params import FromPath

from accessio.api.state import Server, ServerDep
from accessio.catalog import accounts
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.metadata_schema import Tombstone, describe
from accessio.errors import AccessioError
from accessio.search.projection import MAP_LIMIT, embedding_map
from accessio.service import Forbidden
from accessio.service.access import item_condition, scope_of
from accessio.storage import AccessMode
from accessio.storage.urls import Provider
from accessio.web.render import SECURITY_HEADERS, page
from accessio.web.session import Visitor, VisitorDep

SCALARS = ("number", "varchar", "text", "boolean", "datetime", "uuid")
MAP_POINTS = 5_000


def _admin(visitor: Visitor) -> None:
    if not visitor.principal.is_admin:
        raise Forbidden("only administrators change this")


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# the schema


def schema_context(server: Server, visitor: Visitor) -> dict[str, Any]:
    schema = server.app.schema()
    keys = []
    for key, key_type in sorted(schema.keys.items()):
        previous = key_type.previous if isinstance(key_type, Tombstone) else None
        shown = describe(previous if previous is not None else key_type)
        options = list(getattr(key_type, "values", ()))
        deleted = isinstance(key_type, Tombstone)
        keys.append({"key": key, "type": shown, "deleted": deleted, "restorable": previous is not None,
                     "options": options})  # fmt: skip
    return {"visitor": visitor, "section": "schema", "keys": keys, "scalars": SCALARS, "error": None,
            "message": None, "can_change": visitor.principal.is_admin}  # fmt: skip


@get("/metadata-schema")
async def schema_page(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    return page("schema.html", **await to_thread.run_sync(schema_context, server, visitor))


async def _schema_change(server: Server, visitor: Visitor, change: Any, done: str) -> Response[str]:
    _admin(visitor)
    try:
        await to_thread.run_sync(change)
    except (AccessioError, ValueError) as exc:
        context = await to_thread.run_sync(schema_context, server, visitor)
        context["error"] = exc.message if isinstance(exc, AccessioError) else str(exc)
        return page("schema.html", status=400, **context)
    context = await to_thread.run_sync(schema_context, server, visitor)
    context["message"] = done
    return page("schema.html", **context)


@post("/metadata-schema/keys", status_code=200)
async def add_key(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    form = await request.form()
    key, kind = _text(form, "key"), _text(form, "type")
    app = server.app

    def change() -> None:
        if kind in SCALARS:
            app.schema_add_scalar(key, kind)
        elif kind == "enum":
            app.schema_add_enum(key, [v.strip() for v in _text(form, "values").split(",") if v.strip()])
        elif kind == "embedding":
            size = _text(form, "size")
            app.schema_add_embedding(key, int(size) if size.isdigit() else 0)
        elif kind == "geospatial":
            app.schema_add_geospatial(key)
        else:
            raise ValueError(f"choose a type for {key!r}")

    return await _schema_change(server, visitor, change, f"Added {key}.")


@post("/metadata-schema/keys/{key:str}/options", status_code=200)
async def add_options(
    request: Request[Any, Any, Any], key: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    form = await request.form()
    values = [v.strip() for v in _text(form, "values").split(",") if v.strip()]
    return await _schema_change(
        server, visitor, lambda: server.app.schema_add_enum_options(key, values), f"Added options to {key}."
    )


@post("/metadata-schema/keys/{key:str}/delete", status_code=200)
async def delete_key(
    request: Request[Any, Any, Any], key: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    return await _schema_change(server, visitor, lambda: server.app.schema_delete(key), f"Deleted {key} (restorable).")


@post("/metadata-schema/keys/{key:str}/restore", status_code=200)
async def restore_key(
    request: Request[Any, Any, Any], key: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    return await _schema_change(server, visitor, lambda: server.app.schema_restore(key), f"Restored {key}.")


# integrations (administrators)


def integrations_context(server: Server, visitor: Visitor) -> dict[str, Any]:
    _admin(visitor)
    with server.app.engine.connect() as conn:
        found = [(record, accounts.integration_users(conn, record.id)) for record in server.app.integrations()]
        users = accounts.all_users(conn)
    return {"visitor": visitor, "section": "integrations", "integrations": found, "users": users,
            "providers": [p.value for p in Provider], "modes": [m.value for m in AccessMode], "error": None,
            "message": None, "checks": {}}  # fmt: skip


@get("/integrations")
async def integrations_page(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    return page("integrations.html", **await to_thread.run_sync(integrations_context, server, visitor))


async def _integration_change(server: Server, visitor: Visitor, change: Any, done: str) -> Response[str]:
    _admin(visitor)
    try:
        result = await to_thread.run_sync(change)
    except (AccessioError, ValueError) as exc:
        context = await to_thread.run_sync(integrations_context, server, visitor)
        context["error"] = exc.message if isinstance(exc, AccessioError) else str(exc)
        return page("integrations.html", status=400, **context)
    context = await to_thread.run_sync(integrations_context, server, visitor)
    context["message"] = done if result is None else result
    return page("integrations.html", **context)


@post("/integrations", status_code=200)
async def add_integration(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    form = await request.form()
    name = _text(form, "name")

    def change() -> None:
        server.app.add_integration(
            name,
            _text(form, "provider"),
            access_mode=_text(form, "access_mode") or "server",
            root=_text(form, "root") or None,
            endpoint=_text(form, "endpoint") or None,
            region=_text(form, "region") or None,
            credentials=_text(form, "credentials") or None,
        )

    return await _integration_change(server, visitor, change, f"Added integration {name}.")


@post("/integrations/{integration_id:str}/grant", status_code=200)
async def grant(
    request: Request[Any, Any, Any], integration_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    form = await request.form()
    user = _text(form, "user")

    def change() -> None:
        with server.app.engine.begin() as conn:
            record = server.app.integration_record(integration_id)
            accounts.grant_integration(conn, record.id, accounts.get_user(conn, user).id)

    return await _integration_change(server, visitor, change, f"{user} may register through it.")


@post("/integrations/{integration_id:str}/check", status_code=200)
async def check_integration(
    request: Request[Any, Any, Any], integration_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    """Whether the integration reaches its storage: its first object is listed (or, for a
    plain web server, which cannot be listed, the check says so)."""

    def change() -> str:
        record = server.app.integration_record(integration_id)
        storage = server.app.storage(record.id)
        root = record.root or ""
        prefix = {"local": f"file://{root}", "s3": f"s3://{root}", "gcp": f"gs://{root}"}.get(record.provider)
        if prefix is None and record.endpoint:
            prefix = f"{record.endpoint.rstrip('/')}/{root}".rstrip("/")
        if prefix is None:
            return f"{record.name}: nothing to list (give it a root to check it)"

        async def first() -> str:
            async for found in storage.list(prefix):
                return f"{record.name} reaches its storage: found {found.url}"
            return f"{record.name} reaches its storage, which is empty under its root"

        return asyncio.run(first())

    return await _integration_change(server, visitor, change, "")


# the embedding map


def map_context(server: Server, visitor: Visitor, key: str | None, color_by: str | None) -> dict[str, Any]:
    schema = server.app.schema()
    keys = sorted(schema.embedding_keys())
    colours = sorted(k for k, t in schema.live().items() if k not in keys)
    chosen = key if key in keys else (keys[0] if keys else None)
    return {"visitor": visitor, "section": "map", "keys": keys, "key": chosen, "colours": colours,
            "color_by": color_by if color_by in colours else None}  # fmt: skip


@get("/map")
async def map_page(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    params = request.query_params
    context = await to_thread.run_sync(map_context, server, visitor, params.get("key"), params.get("colorBy"))
    return page("map.html", **context)


@get("/map/points")
async def map_points(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[Any]:
    """The map's points as JSON (of the items the visitor sees); the page draws them."""
    params = request.query_params

    def project() -> dict[str, Any]:
        with server.app.engine.connect() as conn:
            scope = item_condition(scope_of(conn, visitor.principal))
            if params.get("key") not in schema_store.load(conn).embedding_keys():
                return {"points": [], "message": "choose an embedding key"}
            try:
                found = embedding_map(
                    conn, params["key"], color_by=params.get("colorBy") or None, limit=min(MAP_LIMIT, MAP_POINTS),
                    condition=scope,
                )  # fmt: skip
            except AccessioError as exc:
                return {"points": [], "message": exc.message}
        return found.to_json()

    return Response(await to_thread.run_sync(project), headers=SECURITY_HEADERS)
