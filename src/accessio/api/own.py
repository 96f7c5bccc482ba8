"""Accessio's own API, ``/api/...``: what Encord's API has no words for, with the JSON
shapes of the CLI's ``--json`` (docs/server.md lists every route).

Spec bodies (validate, dry run, jobs) are the spec file itself, JSON or CSV, streamed
to disk before they are read.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from accessio.api.encord_jobs import mapped, stream_to_file
from accessio.api.errors import filter_issues
from accessio.api.state import Caller, ServerDep
from accessio.api.webhooks import WEBHOOK_HANDLERS
from accessio.catalog import accounts
from accessio.catalog import jobs as job_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.accounts import Role
from accessio.catalog.items import item_json
from accessio.errors import SpecInvalid, SpecUnreadable
from accessio.jobs.dry_run import dry_run
from accessio.jobs.embedding_import import import_embeddings as import_file
from accessio.jobs.sequences import check_sequence_fps
from accessio.search.filter_syntax import FilterError
from accessio.search.map_image import write_png
from accessio.search.projection import MAP_LIMIT, ProjectionError
from accessio.search.projection import embedding_map as project_map
from accessio.service import Forbidden
from accessio.service import folders as folder_service
from accessio.service import items as item_service
from accessio.service import jobs as job_service
from accessio.service.access import item_condition, scope_of
from accessio.service.app import job_json
from accessio.spec import UploadSpec, parse_spec

_PLOTTING = threading.Lock()


class SimilarQuery(msgspec.Struct):
    key: str
    item: str | None = None
    frame: int | None = None
    vector: list[float] | None = None
    k: int = 10
    where: str | None = None
    folder: str | None = None  # a folder id


class ShareRequest(msgspec.Struct):
    user: str
    role: str = "viewer"


class TokenRequest(msgspec.Struct):
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    expiresDays: Annotated[int, msgspec.Meta(ge=1, le=36_500)] | None = None  # noqa: N815


def _filter_error(exc: FilterError) -> Response[Any]:
    body = {"message": exc.message, "code": "filter", "option": exc.option, "excerpt": exc.excerpt}
    return Response({**body, "issues": filter_issues(exc)}, status_code=400)


async def _spec_from_body(request: Request[Any, Any, Any], server: ServerDep, name: str) -> UploadSpec:
    path = await stream_to_file(request, server.settings.max_body_bytes)

    def parse() -> UploadSpec:
        with mapped(path) as body:
            return parse_spec(bytes(body), name=name)

    return await asyncio.to_thread(parse)


# spec


@post("/spec/validate", status_code=200)
async def validate_spec(
    request: Request[Any, Any, Any],
    server: ServerDep,
    principal: Caller,
    name: Annotated[str, QueryParameter(name="name")] = "spec.json",
) -> dict[str, Any]:
    """The spec in the body, checked as ``spec validate --json`` does (``valid`` false
    with every issue: still a 200, as the check itself succeeded)."""
    try:
        spec = await _spec_from_body(request, server, name)
    except (SpecInvalid, SpecUnreadable) as exc:
        issues = exc.issues if isinstance(exc, SpecInvalid) else ()
        errors = [{"location": i.location, "code": i.code, "message": i.message} for i in issues[:1000]]
        if isinstance(exc, SpecUnreadable):
            errors = [{"location": "$", "code": exc.code, "message": exc.reason}]
        total = exc.total if isinstance(exc, SpecInvalid) else 1
        return {
            "file": name,
            "valid": False,
            "units": {},
            "urls": 0,
            "errors": errors,
            "error_count": total,
            "truncated": total > len(errors),
        }
    return {
        "file": name,
        "valid": True,
        "units": spec.counts(),
        "urls": spec.url_count(),
        "errors": [],
        "error_count": 0,
        "truncated": False,
    }


@post("/folders/{folder_id:str}/dry-run", status_code=200)
async def dry_run_spec(
    request: Request[Any, Any, Any],
    folder_id: FromPath[str],
    server: ServerDep,
    principal: Caller,
    integration: Annotated[str, QueryParameter(name="integration")],
    name: Annotated[str, QueryParameter(name="name")] = "spec.json",
) -> dict[str, Any]:
    """``register --dry-run``: URLs checked against the integration, a sample read,
    duplicates already in the folder counted; nothing written."""
    spec = await _spec_from_body(request, server, name)

    def check() -> dict[str, Any]:
        with server.app.engine.connect() as conn:
            folder = folder_service.folder_for(conn, scope_of(conn, principal), folder_id, Role.EDITOR).folder
            record = job_service.integration_for(conn, principal, integration)
        return dry_run(server.app, spec, folder=folder.path, integration=record.id)

    return await asyncio.to_thread(check)


@post("/folders/{folder_id:str}/jobs", status_code=200)
async def start_job(
    request: Request[Any, Any, Any],
    folder_id: FromPath[str],
    server: ServerDep,
    principal: Caller,
    integration: Annotated[str, QueryParameter(name="integration")],
    ignore_errors: Annotated[bool, QueryParameter(name="ignoreErrors")] = False,
    name: Annotated[str, QueryParameter(name="name")] = "spec.json",
    sequence_fps: Annotated[float | None, QueryParameter(name="sequenceFps")] = None,
) -> dict[str, Any]:
    """Register the spec in the body (JSON or CSV); answers the job as ``jobs show --json``.
    ``sequenceFps``: the frame rate of its image sequences' videos (default 25)."""
    check_sequence_fps(sequence_fps)
    spec = await _spec_from_body(request, server, name)

    def store() -> dict[str, Any]:
        job = job_service.submit(
            server.app,
            principal,
            folder_id,
            spec,
            integration=integration,
            ignore_errors=ignore_errors,
            file_name=Path(name).name,
            lease_holder=server.executor.holder,
            sequence_fps=sequence_fps,
        )
        return job.to_json()

    shown = await asyncio.to_thread(store)
    server.executor.submit(shown["id"], spec.unit_count())
    return shown


# items and search


@get("/folders/{folder_id:str}/items", sync_to_thread=True)
def list_items(
    folder_id: FromPath[str],
    server: ServerDep,
    principal: Caller,
    where: Annotated[str | None, QueryParameter(name="where")] = None,
    sort: Annotated[str | None, QueryParameter(name="sort")] = None,
    desc: Annotated[bool, QueryParameter(name="desc")] = False,
    after: Annotated[str | None, QueryParameter(name="after")] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
    item_type: Annotated[str | None, QueryParameter(name="type")] = None,
) -> Any:
    """``items ls --json``, a page at a time: ``{"items": [...], "nextCursor": ...}``."""
    try:
        page = item_service.list_items(
            server.app,
            principal,
            folder_id,
            where=where,
            sort=sort or "name",
            desc=desc,
            page_token=after,
            page_size=limit,
            item_types=[item_type] if item_type else (),
        )
    except FilterError as exc:
        return _filter_error(exc)
    return {"items": [item_json(row) for row in page.rows], "nextCursor": page.next_token}


@get("/items/{item_id:str}", sync_to_thread=True)
def show_item(item_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, Any]:
    """``items show``: the item with its children and a summary of its embeddings."""
    item_service.get_item(server.app, principal, item_id)
    return server.app.item(item_id)


@post("/search/similar", status_code=200, sync_to_thread=True)
def similar(data: JSONBody[SimilarQuery], server: ServerDep, principal: Caller) -> Any:
    """``search similar``: the ``k`` nearest items (or video frames) the caller sees."""
    if data.item is not None:
        item_service.get_item(server.app, principal, data.item)
    folder_path = None
    if data.folder is not None:
        folder_path = folder_service.get_folder(server.app, principal, data.folder).folder.path
    with server.app.engine.connect() as conn:
        scope = item_condition(scope_of(conn, principal))
    try:
        hits = server.app.similar(
            data.key,
            item=data.item,
            frame=data.frame,
            vector=data.vector,
            k=data.k,
            where=data.where,
            folder=folder_path,
            condition=scope,
        )
    except FilterError as exc:
        return _filter_error(exc)
    return {"hits": [{"itemId": h.item_id, "frame": h.frame, "distance": h.distance} for h in hits]}


@post("/embeddings/import", status_code=200)
async def import_embeddings(request: Request[Any, Any, Any], server: ServerDep, principal: Caller) -> dict[str, Any]:
    """``embeddings import``: a JSON Lines body of vectors, all or nothing, into items
    of folders where the caller is an editor."""
    path = await stream_to_file(request, server.settings.max_body_bytes)

    def run() -> dict[str, Any]:
        try:
            with server.app.engine.connect() as conn:
                scope = item_condition(scope_of(conn, principal), least=Role.EDITOR)
            report = import_file(server.app.engine, path, condition=scope)
        finally:
            Path(path).unlink(missing_ok=True)
        return {"imported": report.imported, "replaced": report.replaced, "items": report.items}

    return await asyncio.to_thread(run)


@get("/embeddings/{key:str}/map", sync_to_thread=True)
def embedding_map(
    key: FromPath[str],
    server: ServerDep,
    principal: Caller,
    color_by: Annotated[str | None, QueryParameter(name="colorBy")] = None,
    method: Annotated[str, QueryParameter(name="method")] = "pca",
    limit: Annotated[int, QueryParameter(name="limit", ge=2, le=MAP_LIMIT)] = MAP_LIMIT,
    output: Annotated[str, QueryParameter(name="format")] = "json",
) -> Any:
    """``embeddings map``: the points (JSON), or the picture (``format=png``)."""
    with server.app.engine.connect() as conn:
        scope = item_condition(scope_of(conn, principal))
        if key not in schema_store.load(conn).embedding_keys():
            raise ProjectionError(f"{key!r} is not an embedding key of the metadata schema")
        found = project_map(conn, key, color_by=color_by, method=method, limit=limit, condition=scope)
    if output == "png":
        with _PLOTTING, tempfile.TemporaryDirectory() as directory:  # pyplot draws one figure at a time
            picture = write_png(found, Path(directory) / "map.png").read_bytes()
        return Response(picture, media_type="image/png")
    return found.to_json()


@get("/schema/verify", sync_to_thread=True)
def verify_schema(
    server: ServerDep, principal: Caller, limit: Annotated[int, QueryParameter(name="limit", ge=1, le=100_000)] = 1000
) -> dict[str, Any]:
    """``schema verify --json``: stored values (of items the caller sees) that break the schema."""
    with server.app.engine.connect() as conn:
        scope = item_condition(scope_of(conn, principal))
        found = schema_store.violations(conn, schema_store.load(conn), limit=limit, condition=scope)
    return {"violations": [v.to_json() for v in found], "count": len(found)}


# jobs


@get("/jobs", sync_to_thread=True)
def list_jobs(
    server: ServerDep, principal: Caller, limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 50
) -> list[dict[str, Any]]:
    """``jobs ls --json``: recent jobs of the folders the caller sees."""
    return job_service.list_jobs(server.app, principal, limit=limit)


@get("/jobs/{job_id:str}", sync_to_thread=True)
def show_job(job_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, Any]:
    """``jobs show --json``."""
    return job_service.show_job(server.app, principal, job_id)


@get("/jobs/{job_id:str}/failures.csv", sync_to_thread=True)
def failures_csv(job_id: FromPath[str], server: ServerDep, principal: Caller) -> Response[Any]:
    """One row per failed file (``jobs errors --csv``)."""
    job = job_service.job_handle(server.app, principal, job_id)
    headers = {"Content-Disposition": f'attachment; filename="failures-{job_id}.csv"'}
    return Response(job.failures_csv(), media_type="text/csv; charset=utf-8", headers=headers)


@get("/jobs/{job_id:str}/retry-spec", sync_to_thread=True)
def retry_spec(job_id: FromPath[str], server: ServerDep, principal: Caller) -> Response[Any]:
    """The failed units as a spec to fix and submit again (``jobs errors --spec``)."""
    job = job_service.job_handle(server.app, principal, job_id)
    headers = {"Content-Disposition": f'attachment; filename="retry-{job_id}.json"'}
    return Response(job.failures_spec(), media_type="application/json", headers=headers)


@post("/jobs/{job_id:str}/cancel", status_code=200, sync_to_thread=True)
def cancel_job(job_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, int]:
    cancelled = job_service.cancel(server.app, principal, job_id)
    server.executor.notify(job_id)
    return {"unitsCancelledCount": cancelled}


@post("/jobs/{job_id:str}/resume", status_code=200, sync_to_thread=True)
def resume_job(job_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, Any]:
    """Take up an interrupted job (editors of its folder); 409 while a live process works it."""
    job_service.job_handle(server.app, principal, job_id, Role.EDITOR)
    with server.app.engine.begin() as conn:
        record = job_store.acquire_lease(conn, job_id, server.executor.holder)
        shown = job_json(conn, record, max_errors=0)
    server.executor.submit(job_id, record.units_total)
    return shown


# folders: shares


@get("/folders/{folder_id:str}/shares", sync_to_thread=True)
def list_shares(folder_id: FromPath[str], server: ServerDep, principal: Caller) -> list[dict[str, str]]:
    return [{"user": u.name, "role": r.wire} for u, r in folder_service.shares(server.app, principal, folder_id)]


@post("/folders/{folder_id:str}/shares", status_code=200, sync_to_thread=True)
def add_share(
    folder_id: FromPath[str], data: JSONBody[ShareRequest], server: ServerDep, principal: Caller
) -> dict[str, str]:
    """``folder share``: the folder and every folder below it (the folder's admins)."""
    role = Role.parse(data.role)
    folder_service.share(server.app, principal, folder_id, data.user, role)
    server.auth.forget()
    return {"user": data.user, "role": role.wire}


@delete("/folders/{folder_id:str}/shares/{user:str}", status_code=200, sync_to_thread=True)
def remove_share(
    folder_id: FromPath[str], user: FromPath[str], server: ServerDep, principal: Caller
) -> dict[str, bool]:
    return {"removed": folder_service.unshare(server.app, principal, folder_id, user)}


# the caller and their tokens


@get("/me")
async def me(principal: Caller) -> dict[str, Any]:
    return {"name": principal.name, "isAdmin": principal.is_admin}


def _token_json(token: accounts.Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "label": token.label,
        "createdAt": token.created_at.isoformat(),
        "expiresAt": token.expires_at.isoformat() if token.expires_at else None,
        "lastUsedAt": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked": token.revoked_at is not None,
    }


@get("/tokens", sync_to_thread=True)
def list_tokens(server: ServerDep, principal: Caller) -> list[dict[str, Any]]:
    """The caller's own tokens (never the tokens themselves)."""
    with server.app.engine.connect() as conn:
        return [_token_json(t) for t in accounts.tokens(conn, _own(principal))]


@post("/tokens", status_code=200, sync_to_thread=True)
def create_token(data: JSONBody[TokenRequest], server: ServerDep, principal: Caller) -> dict[str, Any]:
    """A new token for the caller, shown in this answer only."""
    with server.app.engine.begin() as conn:
        token, secret = accounts.create_token(conn, _own(principal), label=data.label, expires_days=data.expiresDays)
    return {**_token_json(token), "token": secret}


@delete("/tokens/{token_id:str}", status_code=200, sync_to_thread=True)
def revoke_token(token_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, Any]:
    with server.app.engine.begin() as conn:
        token = accounts.revoke_token(conn, token_id, user_id=_own(principal))
    server.auth.forget()
    return _token_json(token)


def _own(principal: Caller) -> str:
    if principal.user_id is None:
        raise Forbidden("the operator has no tokens; tokens belong to users")
    return principal.user_id


def own_handlers() -> list[HTTPRouteHandler | Router]:
    """Every ``/api`` route, under one router."""
    handlers: list[Any] = [
        validate_spec, dry_run_spec, start_job, list_items, show_item, similar, import_embeddings, embedding_map,
        verify_schema, list_jobs, show_job, failures_csv, retry_spec, cancel_job, resume_job, list_shares,
        add_share, remove_share, me, list_tokens, create_token, revoke_token, *WEBHOOK_HANDLERS,
    ]  # fmt: skip
    return [Router("/api", route_handlers=handlers, tags=["Accessio"])]
