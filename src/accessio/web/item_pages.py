"""An item's page (its preview, media and client metadata, similar items), the client
metadata editor (checked against the schema, errors at the field), and thumbnails."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import sqlalchemy as sa
from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import File, Redirect

from accessio.api.state import Server, ServerDep
from accessio.catalog import embeddings as embedding_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog import metadata_values
from accessio.catalog.accounts import Role
from accessio.catalog.metadata_schema import ENCORD_KEY, describe, value_problem
from accessio.catalog.schema import items
from accessio.errors import AccessioError
from accessio.service import Forbidden
from accessio.service import items as item_service
from accessio.service.access import item_condition, scope_of
from accessio.service.files import sign_item_url
from accessio.service.thumbnails import ThumbnailRefused, icon_name
from accessio.web.render import SECURITY_HEADERS, page
from accessio.web.session import Visitor, VisitorDep

TEXT_PREVIEW = 64 * 1024
SIMILAR = 8
MEDIA_FIELDS = (
    ("mimeType", "Type"), ("fileSize", "Size"), ("width", "Width"), ("height", "Height"), ("duration", "Duration (s)"),
    ("fps", "Frames per second"), ("frameCount", "Frames"), ("codec", "Codec"), ("sampleRate", "Sample rate"),
    ("bitDepth", "Bit depth"), ("numChannels", "Channels"), ("numPages", "Pages"), ("encoding", "Encoding"),
    ("modality", "Modality"), ("rotation", "Rotation"), ("dicomStudyUid", "Study UID"),
    ("dicomSeriesUid", "Series UID"), ("dicomInstanceUid", "Instance UID"), ("etag", "ETag"),
)  # fmt: skip


def _text_preview(server: Server, row: Any) -> str | None:
    """The start of a text item, read by the server (never for strictClientOnly)."""
    record = server.app.integration_record(row.integration_id)
    if record.access_mode == "strictClientOnly" or row.url is None:
        return None
    try:
        data = asyncio.run(server.app.storage(record.id).read_range(row.url, 0, TEXT_PREVIEW))
    except AccessioError:
        return None
    return data.decode("utf-8", errors="replace")


def _similar(server: Server, visitor: Visitor, row: Any, keys: dict[str, Any]) -> list[dict[str, Any]]:
    with server.app.engine.connect() as conn:
        scope = item_condition(scope_of(conn, visitor.principal))
    found: dict[str, float] = {}
    for key, entry in keys.items():
        if not entry.get("item"):
            continue
        for hit in server.app.similar(key, item=row.id, k=SIMILAR, condition=scope):
            if hit.item_id != row.id:
                found[hit.item_id] = min(found.get(hit.item_id, 2.0), hit.distance)
    if not found:
        return []
    with server.app.engine.connect() as conn:
        names = dict(conn.execute(sa.select(items.c.id, items.c.name).where(items.c.id.in_(list(found)))).all())
    nearest = sorted(found, key=found.__getitem__)[:SIMILAR]
    return [{"uuid": i, "name": names.get(i, ""), "distance": found[i]} for i in nearest]


def _dicom_tags(child: dict[str, Any]) -> list[tuple[str, str, str]]:
    tags = child.get("dicomTags") or {}
    shown = []
    for tag, attribute in sorted(tags.items()):
        if isinstance(attribute, dict):
            value = attribute.get("Value")
            text = ", ".join(str(v) for v in value) if isinstance(value, list) else ""
            shown.append((tag, str(attribute.get("vr", "")), text[:200]))
    return shown


def item_context(server: Server, visitor: Visitor, request_base: str, item_id: str) -> dict[str, Any]:
    row, seen = item_service.get_item(server.app, visitor.principal, item_id)
    shown = server.app.item(item_id)
    url = sign_item_url(server.app, server.signer, request_base, row, server.settings.sign_ttl_s)
    children = shown.get("children", [])
    for child in children:
        child["tags"] = _dicom_tags(child)
    with server.app.engine.connect() as conn:
        vectors = embedding_store.summary(conn, item_id)
    context = {
        "visitor": visitor, "section": "files", "item": shown, "folder": seen.folder, "signed_url": url,
        "can_edit": seen.role >= Role.EDITOR, "media": [(label, shown.get(key)) for key, label in MEDIA_FIELDS
                                                          if shown.get(key) is not None],
        "children": children, "text": None, "similar": [], "embeddings": vectors, "errors": {}, "saved": False,
        "metadata_rows": sorted((shown.get("clientMetadata") or {}).items()),
    }  # fmt: skip
    if row.item_type == "plainText":
        context["text"] = _text_preview(server, row)
    if vectors:
        context["similar"] = _similar(server, visitor, row, vectors)
    return context


@get("/items/{item_id:str}")
async def item_page(
    request: Request[Any, Any, Any], item_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    context = await to_thread.run_sync(item_context, server, visitor, server.base_url(request), item_id)
    return page("item.html", **context)


def _parse_value(text: str) -> Any:
    """A value as typed: JSON when it reads as JSON (numbers, true, lists...), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _edited(form: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    keys = list(form.getall("key")) if "key" in form else []
    values = list(form.getall("value")) if "value" in form else []
    rows = [(str(k).strip(), str(v)) for k, v in zip(keys, values, strict=False)]
    return {key: _parse_value(value) for key, value in rows if key}, rows


def check_metadata(schema: schema_store.MetadataSchema, metadata: dict[str, Any]) -> dict[str, str]:
    """Every key whose value breaks the schema, with why (the form shows it at the field)."""
    errors: dict[str, str] = {}
    for key, value in metadata.items():
        problem = metadata_values.key_problem(key) if key != ENCORD_KEY else None
        if problem is not None:
            errors[key] = problem
            continue
        key_type = schema.type_of(key)
        if key_type is not None:
            found = value_problem(key_type, value)
            if found is not None:
                errors[key] = f"expected {describe(key_type)}: {found}"
    return errors


@post("/items/{item_id:str}/metadata", status_code=200)
async def save_metadata(
    request: Request[Any, Any, Any], item_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    """Replace the item's client metadata (editors); each wrong value is shown at its field."""
    form = await request.form()
    metadata, rows = _edited(form)

    def save() -> dict[str, Any]:
        context = item_context(server, visitor, server.base_url(request), item_id)
        if not context["can_edit"]:
            raise Forbidden("your role in this folder is viewer: you may not change items")
        with server.app.engine.connect() as conn:
            errors = check_metadata(schema_store.load(conn), metadata)
        if not errors:
            try:
                item_service.update_items(server.app, visitor.principal, {item_id: {"clientMetadata": metadata}})
            except AccessioError as exc:
                errors = {"": exc.message}
        if errors:
            context.update(errors=errors, metadata_rows=rows)
            return context
        context = item_context(server, visitor, server.base_url(request), item_id)
        context["saved"] = True
        return context

    context = await to_thread.run_sync(save)
    return page("partials/metadata.html", status=400 if context["errors"] else 200, **context)


@get("/thumbs/{item_id:str}")
async def thumbnail(
    request: Request[Any, Any, Any], item_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    """The item's thumbnail, or its type's icon. A cached one is answered on the event loop
    (a few hundred microseconds); making one goes to a thread."""
    row, _ = item_service.get_item(server.app, visitor.principal, item_id)
    thumbnails = server.thumbnails()
    made = None
    for _ in range(2):  # a file handed out may be evicted before it is opened: make it again
        try:
            made = thumbnails.cached(server.app, row)
            if made is None:
                made = await to_thread.run_sync(thumbnails.thumbnail, server.app, row)
        except ThumbnailRefused:
            made = None
        if made is None or made.path.exists():
            break
    if made is None or not made.path.exists():
        return Redirect(f"/static/icons/{icon_name(row.item_type)}.svg", status_code=302)
    headers = {**SECURITY_HEADERS, "Cache-Control": "private, max-age=86400", "ETag": made.etag}
    if request.headers.get("if-none-match") == made.etag:
        return Response(b"", status_code=304, headers=headers)
    return File(made.path, media_type=made.media_type, headers=headers, content_disposition_type="inline")
