"""Files: the folder tree, a folder's items (grid or table, filter, sort, keyset
pages), folder and item actions, and "+ Upload files" → "Import from cloud data"."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath

from accessio.api.state import Server, ServerDep
from accessio.catalog.accounts import Role
from accessio.catalog.errors import InvalidName, NotFound
from accessio.catalog.folders import Folder
from accessio.catalog.items import item_json
from accessio.errors import AccessioError, SpecInvalid, SpecUnreadable
from accessio.jobs.dry_run import dry_run
from accessio.search.filter_sql import BUILTINS
from accessio.search.filter_syntax import FilterError
from accessio.service import Forbidden, Principal
from accessio.service import folders as folder_service
from accessio.service import items as item_service
from accessio.service import jobs as job_service
from accessio.service import sync as sync_service
from accessio.service.access import scope_of
from accessio.spec import UploadSpec, load_spec
from accessio.web.render import page
from accessio.web.session import Visitor, VisitorDep

PAGE_SIZE = 100
MOVE_TARGETS = 500  # folders offered as targets of a move
SHOWN_ISSUES = 200


@dataclass
class Node:
    folder: Folder
    children: list[Node] = field(default_factory=list)


def _children(server: Server, who: Principal, parent: str | None) -> list[Folder]:
    found = folder_service.list_folders(server.app, who, parent_id=parent, page_size=1000)
    return [seen.folder for seen in found.folders]


def _tree(server: Server, who: Principal, path: list[Folder]) -> list[Node]:
    """The top of the tree, opened down to the folder shown (``path``: top first)."""
    level = [Node(f) for f in _children(server, who, None)]
    top, opened = level, {f.id for f in path}
    while level:
        node = next((n for n in level if n.folder.id in opened), None)
        if node is None:
            break
        node.children = [Node(f) for f in _children(server, who, node.folder.id)]
        level = node.children
    return top


def _move_targets(server: Server, who: Principal) -> list[Folder]:
    found = folder_service.list_folders(server.app, who, recursive=True, page_size=MOVE_TARGETS)
    return sorted((s.folder for s in found.folders if s.role >= Role.EDITOR), key=lambda f: f.path)


def _query(base: str, **params: Any) -> str:
    kept = {key: value for key, value in params.items() if value not in (None, "", False)}
    return f"{base}?{urlencode(kept)}" if kept else base


def folder_context(
    server: Server, visitor: Visitor, folder_id: str | None, params: dict[str, str]
) -> dict[str, Any]:
    """Everything the Files page shows (the top level when ``folder_id`` is None)."""
    who = visitor.principal
    context: dict[str, Any] = {
        "visitor": visitor, "section": "files", "folder": None, "breadcrumbs": [], "message": params.get("message"),
        "error": None, "items": [], "shares": [], "move_targets": [], "integrations": [], "filter_error": None,
        "where": params.get("where", ""), "sort": params.get("sort", ""), "desc": bool(params.get("desc")),
        "view": "table" if params.get("view") == "table" else "grid", "after": params.get("after"),
        "next_url": None, "first_page_url": "", "sort_fields": sorted(BUILTINS),
    }  # fmt: skip
    if folder_id is None:
        context["tree"] = _tree(server, who, [])
        context["subfolders"] = _children(server, who, None)
        context["can_edit"], context["can_admin"] = True, False
        return context
    seen = folder_service.get_folder(server.app, who, folder_id)
    view = folder_service.describe(server.app, who, [seen])[0]
    breadcrumbs = list(reversed(view.path_to_root))
    context.update(
        folder=seen.folder,
        breadcrumbs=breadcrumbs,
        can_edit=seen.role >= Role.EDITOR,
        can_admin=seen.role >= Role.ADMIN,
        tree=_tree(server, who, breadcrumbs),
        subfolders=_children(server, who, seen.folder.id),
    )
    if context["can_edit"]:
        context["move_targets"] = _move_targets(server, who)
        context["integrations"] = job_service.visible_integrations(server.app, who)
    if context["can_admin"]:
        context["shares"] = folder_service.shares(server.app, who, seen.folder.id)
    base = f"/folders/{seen.folder.id}"
    keep = {"where": context["where"], "sort": context["sort"], "desc": "1" if context["desc"] else "",
            "view": context["view"] if context["view"] == "table" else ""}  # fmt: skip
    context["first_page_url"] = _query(base, **keep)
    try:
        found = item_service.list_items(
            server.app,
            who,
            seen.folder.id,
            where=context["where"] or None,
            sort=context["sort"] or None,
            desc=context["desc"],
            page_token=context["after"] or None,
            page_size=PAGE_SIZE,
        )
    except FilterError as exc:
        context["filter_error"] = exc
        return context
    context["items"] = [item_json(row) for row in found.rows]
    if found.next_token:
        context["next_url"] = _query(base, **keep, after=found.next_token)
    return context


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in request.query_params.items()}


@get("/")
async def home(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    context = await to_thread.run_sync(folder_context, server, visitor, None, _params(request))
    return page("files.html", **context)


@get("/folders/{folder_id:str}")
async def folder_page(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    context = await to_thread.run_sync(folder_context, server, visitor, folder_id, _params(request))
    return page("files.html", **context)


def _back(folder_id: str | None, message: str | None = None) -> Response[Any]:
    target = f"/folders/{folder_id}" if folder_id else "/"
    return Response("", status_code=303, headers={"Location": _query(target, message=message)})


async def _refused(server: Server, visitor: Visitor, folder_id: str | None, error: str) -> Response[str]:
    """The folder page again, saying why the change was refused (400)."""
    context = await to_thread.run_sync(folder_context, server, visitor, folder_id, {})
    context["error"] = error
    return page("files.html", status=400, **context)


async def _change(
    server: Server, visitor: Visitor, shown_on: str | None, work: Callable[[], Any]
) -> tuple[Any, Response[str] | None]:
    """Run a change in a thread: its result, or the page again saying why it was refused
    (a folder or item not seen, or a role too low, stay 404 and 403 pages)."""
    try:
        return await to_thread.run_sync(work), None
    except AccessioError as exc:
        if isinstance(exc, NotFound | Forbidden):
            raise
        return None, await _refused(server, visitor, shown_on, exc.message)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@post("/folders", status_code=303)
async def create_folder(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[Any]:
    form = await request.form()
    parent = _text(form, "parent") or None
    name, description = _text(form, "name"), _text(form, "description")
    who = visitor.principal
    seen, refused = await _change(
        server,
        visitor,
        parent,
        lambda: folder_service.create_folder(server.app, who, name, parent_id=parent, description=description),
    )
    return refused or _back(seen.folder.id, "Folder created.")


@post("/folders/{folder_id:str}/sync", status_code=303)
async def sync_folder(folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep) -> Response[Any]:
    """"Sync now" on a synced folder (an editor's): a sync starts, or the running one goes on;
    the bell follows it."""
    job, refused = await _change(
        server,
        visitor,
        folder_id,
        lambda: sync_service.start_as(server.app, visitor.principal, folder_id, holder=server.executor.holder),
    )
    if refused:
        return refused
    server.executor.submit(job.id, 0)
    return _back(folder_id, "Sync started: the bell shows its progress.")


@post("/folders/{folder_id:str}/rename", status_code=303)
async def rename_folder(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    form = await request.form()
    name, description = _text(form, "name"), _text(form, "description")
    who = visitor.principal
    _, refused = await _change(
        server,
        visitor,
        folder_id,
        lambda: folder_service.update_folder(server.app, who, folder_id, name=name, description=description),
    )
    return refused or _back(folder_id, "Folder saved.")


@post("/folders/{folder_id:str}/move", status_code=303)
async def move_folder(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    form = await request.form()
    target = _text(form, "parent") or None
    who = visitor.principal
    _, refused = await _change(
        server, visitor, folder_id, lambda: folder_service.move_folders(server.app, who, [folder_id], target)
    )
    return refused or _back(folder_id, "Folder moved.")


@post("/folders/{folder_id:str}/share", status_code=303)
async def share_folder(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    form = await request.form()
    user = _text(form, "user")
    try:
        role = Role.parse(_text(form, "role") or "viewer")
        await to_thread.run_sync(folder_service.share, server.app, visitor.principal, folder_id, user, role)
    except ValueError as exc:
        return await _refused(server, visitor, folder_id, str(exc))
    except NotFound as exc:
        if exc.what != "user":
            raise
        return await _refused(server, visitor, folder_id, f"there is no user {user!r}")
    server.auth.forget()
    return _back(folder_id, f"Shared with {user} as {role.wire}.")


@post("/folders/{folder_id:str}/delete", status_code=303)
async def delete_folder(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    def remove() -> str | None:
        seen = folder_service.get_folder(server.app, visitor.principal, folder_id)
        parent = seen.folder.parent_id
        folder_service.delete_folder(server.app, visitor.principal, folder_id)
        if parent is None:
            return None
        with server.app.engine.connect() as conn:
            return parent if scope_of(conn, visitor.principal).role_at(seen.folder.path.rpartition("/")[0]) else None

    try:
        parent = await to_thread.run_sync(remove)
    except AccessioError as exc:
        if isinstance(exc, NotFound | Forbidden):
            raise
        return await _refused(server, visitor, folder_id, exc.message)
    return _back(parent, "Folder deleted.")


@post("/folders/{folder_id:str}/items", status_code=303)
async def item_action(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    form = await request.form()
    chosen = [value for value in form.getall("item") if isinstance(value, str)] if "item" in form else []
    action = _text(form, "action")
    if not chosen:
        return await _refused(server, visitor, folder_id, "select items first")
    try:
        if action == "delete":
            await to_thread.run_sync(item_service.delete_items, server.app, visitor.principal, folder_id, chosen)
            return _back(folder_id, f"Deleted {len(chosen)} item{'s' * (len(chosen) != 1)}.")
        target = _text(form, "target")
        if action != "move" or not target:
            return await _refused(server, visitor, folder_id, "choose a folder to move the items to")
        await to_thread.run_sync(item_service.move_items, server.app, visitor.principal, folder_id, chosen, target)
    except AccessioError as exc:
        if isinstance(exc, Forbidden) or (isinstance(exc, NotFound) and exc.what == "folder"):
            raise
        return await _refused(server, visitor, folder_id, exc.message)
    return _back(folder_id, f"Moved {len(chosen)} item{'s' * (len(chosen) != 1)}.")


# "+ Upload files" -> "Import from cloud data"


async def _spec_of(upload: Any, server: Server) -> tuple[UploadSpec, str]:
    """The uploaded spec file, written to disk and read once (as the CLI reads one)."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise SpecUnreadable("spec", "choose a spec file (.json or .csv)")
    name = Path(upload.filename).name[:200] or "spec.json"
    suffix = ".csv" if name.lower().endswith(".csv") else ".json"
    with tempfile.TemporaryDirectory(prefix="accessio-spec-") as directory:
        path = Path(directory) / f"spec{suffix}"
        size = 0
        with path.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > server.settings.max_body_bytes:
                    raise SpecUnreadable(name, f"the file is larger than {server.settings.max_body_bytes:,} bytes")
                out.write(chunk)
        spec = await to_thread.run_sync(load_spec, path)
    return spec, name


def _problems(exc: AccessioError, name: str) -> dict[str, Any]:
    if isinstance(exc, SpecInvalid):
        shown = [{"location": i.location, "message": i.message} for i in exc.issues[:SHOWN_ISSUES]]
        return {"issues": shown, "issue_count": exc.total, "spec_name": name}
    if isinstance(exc, SpecUnreadable):
        return {"error": f"{name}: {exc.reason}"}
    return {"error": exc.message}


def _empty_check() -> dict[str, Any]:
    return {"issues": [], "issue_count": 0, "report": None, "job": None, "error": None, "spec_name": ""}


@post("/folders/{folder_id:str}/import/check", status_code=200)
async def check_import(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    """"Check": what ``spec validate`` finds, duplicates already here, a sample read."""
    form = await request.form()
    context = _empty_check()
    name = "spec"
    try:
        spec, name = await _spec_of(form.get("spec"), server)

        def check() -> dict[str, Any]:
            with server.app.engine.connect() as conn:
                folder = folder_service.folder_for(conn, scope_of(conn, visitor.principal), folder_id, Role.EDITOR)
                record = job_service.integration_for(conn, visitor.principal, _text(form, "integration"))
            return dry_run(server.app, spec, folder=folder.folder.path, integration=record.id)

        context.update(report=await to_thread.run_sync(check), spec_name=name)
    except AccessioError as exc:
        context.update(_problems(exc, name))
    return page("partials/check.html", **context)


@post("/folders/{folder_id:str}/import", status_code=200)
async def start_import(
    request: Request[Any, Any, Any], folder_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    """"Import": the job starts; the bell follows it."""
    form = await request.form()
    context = _empty_check()
    name = "spec"
    try:
        spec, name = await _spec_of(form.get("spec"), server)
        integration = _text(form, "integration")
        if not integration:
            raise InvalidName("choose an integration")
        job = await to_thread.run_sync(
            lambda: job_service.submit(
                server.app,
                visitor.principal,
                folder_id,
                spec,
                integration=integration,
                ignore_errors=bool(_text(form, "ignore_errors")),
                file_name=name,
                lease_holder=server.executor.holder,
            )
        )
        server.executor.submit(job.id, spec.unit_count())
        context["job"] = {"id": job.id, "units": spec.unit_count()}
    except AccessioError as exc:
        context.update(_problems(exc, name))
    started = {"HX-Trigger": "jobs-changed"} if context["job"] else None  # the page then shows the bell
    return page("partials/check.html", headers=started, **context)

