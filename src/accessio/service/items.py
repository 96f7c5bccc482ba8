"""Items as a principal sees them: list, get, change, move, delete, children.

Items are seen through their folder: an item in a folder the principal does not see
is :class:`~accessio.catalog.errors.NotFound`, as an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from accessio.catalog import embeddings as embedding_store
from accessio.catalog import folders as folder_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.accounts import Role
from accessio.catalog.errors import InvalidName, NotFound
from accessio.catalog.metadata_schema import ENCORD_KEY
from accessio.catalog.schema import folders, items
from accessio.jobs.embeddings import EmbeddingProblem, VideoFacts, extract, needs_extraction
from accessio.search.listing import query_items
from accessio.service.access import Principal, Scope, scope_of, storable_text
from accessio.service.app import Accessio
from accessio.service.folders import Seen, folder_for

ITEM_TYPES = frozenset(
    {"video", "image", "imageGroup", "imageSequence", "dicomSeries", "dicomFile", "audio", "plainText", "pdf", "nifti"}
)
_ORDERS = {"name": "name", "createdAt": "createdAt"}


@dataclass(frozen=True)
class ItemPage:
    rows: list[Any]
    next_token: str | None


def _item_in_scope(conn: sa.Connection, scope: Scope, item_id: str, need: Role = Role.VIEWER) -> tuple[Any, Seen]:
    row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
    if row is None:
        raise NotFound("item", item_id)
    try:
        seen = folder_for(conn, scope, row.folder_id, need)
    except NotFound:
        raise NotFound("item", item_id) from None
    return row, seen


def get_item(app: Accessio, who: Principal, item_id: str) -> tuple[Any, Seen]:
    """An item (and its folder) the principal sees."""
    with app.engine.connect() as conn:
        return _item_in_scope(conn, scope_of(conn, who), item_id)


def get_items(app: Accessio, who: Principal, item_ids: Sequence[str]) -> list[Any]:
    """Items in the order asked; :class:`NotFound` names the first one not seen."""
    with app.engine.connect() as conn:
        scope = scope_of(conn, who)
        wanted = list(dict.fromkeys(item_ids))
        rows: dict[str, Any] = {}
        for start in range(0, len(wanted), 500):
            chosen = wanted[start : start + 500]
            rows.update((row.id, row) for row in conn.execute(sa.select(items).where(items.c.id.in_(chosen))))
        paths = dict(
            conn.execute(
                sa.select(folders.c.id, folders.c.path).where(folders.c.id.in_({r.folder_id for r in rows.values()}))
            ).all()
        )
        out = []
        for item_id in item_ids:
            row = rows.get(item_id)
            if row is None or scope.role_at(paths[row.folder_id]) is None:
                raise NotFound("item", item_id)
            out.append(row)
        return out


def list_items(
    app: Accessio,
    who: Principal,
    folder_id: str,
    *,
    recursive: bool = False,
    search: str | None = None,
    item_types: Sequence[str] = (),
    order: str = "name",
    desc: bool = False,
    page_size: int = 100,
    page_token: str | None = None,
    where: str | None = None,
    sort: str | None = None,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
) -> ItemPage:
    """A folder's top-level items (with every folder below it when ``recursive``):
    ``search`` keeps names that hold it, ``item_types`` keeps those types, ``where``
    is a filter (docs/filters.md), ``sort`` any sortable field (else ``order``);
    ``columns``: what each row holds (every column by default)."""
    if not 1 <= page_size <= 1000:
        raise InvalidName(f"pageSize must be 1 to 1000, not {page_size}")
    if order not in _ORDERS:
        raise InvalidName(f"order must be one of {', '.join(_ORDERS)}, not {order!r}")
    unknown = sorted(set(item_types) - ITEM_TYPES)
    if unknown:
        raise InvalidName(f"itemTypes: {', '.join(map(repr, unknown))} is not one of {', '.join(sorted(ITEM_TYPES))}")
    with app.engine.connect() as conn:
        scope = scope_of(conn, who)
        folder = folder_for(conn, scope, folder_id).folder
        conditions: list[sa.ColumnElement[bool]] = [items.c.is_tombstone.is_(sa.false())]
        if item_types:
            conditions.append(items.c.item_type.in_(sorted(set(item_types))))
        if search:
            conditions.append(sa.func.lower(items.c.name).contains(search.lower(), autoescape=True))
        target: str | None = folder.id
        if recursive:
            visible = scope.folder_condition()
            below = sa.select(folders.c.id).where(folder_store.subtree(folder.path))
            if visible is not None:
                below = below.where(visible)
            conditions.append(items.c.folder_id.in_(below))
            target = None
        sort = sort or _ORDERS[order]
        # a built-in sort without a filter needs no schema (saves a read per page)
        schema = schema_store.MetadataSchema.EMPTY if not where and sort in _ORDERS else None
        page = query_items(
            conn,
            target,
            where=where,
            sort=sort,
            desc=desc,
            limit=page_size,
            after=page_token,
            conditions=conditions,
            columns=columns,
            schema=schema,
        )
        return ItemPage(page.rows, page.next_cursor)


def children(app: Accessio, who: Principal, folder_id: str, item_id: str) -> list[Any]:
    """The frames or files of a group or series, in order."""
    with app.engine.connect() as conn:
        row, seen = _item_in_scope(conn, scope_of(conn, who), item_id)
        if seen.folder.id != folder_id:
            raise NotFound("item", item_id)
        query = sa.select(items).where(items.c.parent_item_id == row.id).order_by(items.c.position)
        return list(conn.execute(query))


def _replace_metadata(conn: sa.Connection, schema: schema_store.MetadataSchema, row: Any, metadata: Any) -> Any:
    """Replace an item's client metadata. Its vectors live beside it: those of embedding
    keys the new metadata names are replaced (``null`` deletes one), the others stay, so
    that metadata read and written back (without its vectors) loses none."""
    if not isinstance(metadata, dict):
        raise InvalidName(f"item {row.id}: clientMetadata must be a JSON object")
    storable_text(metadata, f"item {row.id}: clientMetadata")
    keys = schema.embedding_keys()
    named = [key for key in metadata if key in keys]
    metadata = {key: value for key, value in metadata.items() if not (key in keys and value is None)}
    kept, vectors = _metadata_update(conn, schema, row, metadata)
    frames = row.item_type == "video" and ENCORD_KEY in metadata
    embedding_store.delete_keys(conn, row.id, named, frames=frames)
    embedding_store.insert(conn, vectors)
    return kept


def _metadata_update(
    conn: sa.Connection, schema: schema_store.MetadataSchema, row: Any, metadata: dict[str, Any]
) -> tuple[Any, list[tuple[str, str, int | None, bytes]]]:
    """Client metadata checked against the schema, its vectors taken out (as registration does)."""
    video = row.item_type == "video"
    if not needs_extraction(schema, metadata, video=video):
        return metadata, []
    facts = VideoFacts(row.fps, row.frame_count, row.duration) if video else None
    try:
        taken = extract(schema, metadata, facts)
    except EmbeddingProblem as exc:
        raise InvalidName(f"item {row.id}: clientMetadata: {exc.message}") from None
    return dict(taken.client_metadata), [(row.id, *vector) for vector in taken.vectors]


def update_items(
    app: Accessio, who: Principal, patches: dict[str, dict[str, Any]], *, folder_id: str | None = None
) -> list[Any]:
    """Change items (editors of their folders): ``{item_id: {"name", "description",
    "clientMetadata"}}``, each key optional. Client metadata is replaced whole, checked
    against the schema; its embeddings replace the item's. All or nothing."""
    now = datetime.now(UTC)
    with app.engine.begin() as conn:
        scope = scope_of(conn, who)
        schema = schema_store.load(conn)
        changed: list[str] = []
        for item_id, patch in patches.items():
            row, seen = _item_in_scope(conn, scope, item_id, Role.EDITOR)
            if folder_id is not None and seen.folder.id != folder_id:
                raise NotFound("item", item_id)
            values: dict[str, Any] = {"updated_at": now}
            if patch.get("name") is not None:
                name = str(patch["name"]).strip()
                if not name or len(name) > 1000:
                    raise InvalidName(f"item {item_id}: a name is 1 to 1000 characters")
                storable_text(name, f"item {item_id}: name")
                values["name"] = name
            if patch.get("description") is not None:
                storable_text(patch["description"], f"item {item_id}: description")
                values["description"] = str(patch["description"])
            if patch.get("clientMetadata") is not None:
                values["client_metadata"] = _replace_metadata(conn, schema, row, patch["clientMetadata"])
            conn.execute(items.update().where(items.c.id == item_id).values(**values))
            changed.append(item_id)
        by_id = {row.id: row for row in conn.execute(sa.select(items).where(items.c.id.in_(changed)))}
        return [by_id[item_id] for item_id in changed]


def _top_level(
    conn: sa.Connection, scope: Scope, folder_id: str, item_ids: Sequence[str], need: Role
) -> list[str]:
    """The ids, checked: each a top-level item of the folder, which the principal may change."""
    folder_for(conn, scope, folder_id, need)
    wanted = list(dict.fromkeys(item_ids))
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), 500):
        chosen = wanted[start : start + 500]
        query = sa.select(items.c.id, items.c.parent_item_id).where(
            items.c.id.in_(chosen), items.c.folder_id == folder_id
        )
        found.update((row.id, row) for row in conn.execute(query))
    for item_id in wanted:
        if item_id not in found:
            raise NotFound("item", item_id)
        if found[item_id].parent_item_id is not None:
            raise InvalidName(f"item {item_id} is a frame or file of a group: move or delete its group")
    return wanted


def move_items(app: Accessio, who: Principal, folder_id: str, item_ids: Sequence[str], new_folder_id: str) -> int:
    """Move items (with their frames or files) to another folder; editors of both."""
    with app.engine.begin() as conn:
        scope = scope_of(conn, who)
        ids = _top_level(conn, scope, folder_id, item_ids, Role.EDITOR)
        target = folder_for(conn, scope, new_folder_id, Role.EDITOR).folder
        moved = 0
        now = datetime.now(UTC)
        for start in range(0, len(ids), 500):
            chosen = ids[start : start + 500]
            moving = sa.or_(items.c.id.in_(chosen), items.c.parent_item_id.in_(chosen))
            result = conn.execute(items.update().where(moving).values(folder_id=target.id, updated_at=now))
            moved += result.rowcount
        return moved


def delete_items(app: Accessio, who: Principal, folder_id: str, item_ids: Sequence[str]) -> int:
    """Delete items with their frames or files (editors of the folder); how many rows went."""
    with app.engine.begin() as conn:
        ids = _top_level(conn, scope_of(conn, who), folder_id, item_ids, Role.EDITOR)
        removed = 0
        for start in range(0, len(ids), 500):
            chosen = ids[start : start + 500]
            removed += conn.execute(items.delete().where(items.c.parent_item_id.in_(chosen))).rowcount
            removed += conn.execute(items.delete().where(items.c.id.in_(chosen))).rowcount
        return removed
