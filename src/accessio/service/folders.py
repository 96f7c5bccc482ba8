"""Folders as a principal sees them: create, find, list, change, move, share, delete.

>>> folder = create_folder(app, who, "drive-a")  # doctest: +SKIP
>>> page = list_folders(app, who, parent_id=None)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from accessio.catalog import accounts
from accessio.catalog import folders as folder_store
from accessio.catalog.accounts import Role
from accessio.catalog.errors import InvalidName, NotFound
from accessio.catalog.folders import Folder
from accessio.catalog.metadata_schema import check_client_metadata, load
from accessio.catalog.schema import folders, items, jobs, unit_errors, uploads
from accessio.errors import AccessioError
from accessio.service.access import Principal, Scope, require_role, scope_of, storable_text
from accessio.service.app import Accessio


class FolderBusy(AccessioError):
    """A folder with a job still running in it (or below it) cannot be deleted."""

    status = 409
    code = "folder.busy"


class BadPageToken(AccessioError):
    status = 400
    code = "page_token"


@dataclass(frozen=True)
class Seen:
    """A folder with the principal's role in it."""

    folder: Folder
    role: Role


@dataclass(frozen=True)
class FolderPage:
    folders: list[Seen]
    next_token: str | None


def _seen(scope: Scope, folder: Folder) -> Seen | None:
    role = scope.role_at(folder.path)
    return None if role is None else Seen(folder, role)


def folder_for(conn: sa.Connection, scope: Scope, folder_id: str, need: Role = Role.VIEWER) -> Seen:
    """The folder with this id if the principal sees it (else :class:`NotFound`, as
    for an id that does not exist) and has the role ``need`` in it (else ``Forbidden``)."""
    try:
        folder = folder_store.get_by_id(conn, folder_id)
    except NotFound:
        raise NotFound("folder", folder_id) from None
    role = require_role(scope, folder.path, need, what="folder", key=folder_id)
    return Seen(folder, role)


def get_folder(app: Accessio, who: Principal, folder_id: str) -> Seen:
    with app.engine.connect() as conn:
        return folder_for(conn, scope_of(conn, who), folder_id)


def visible_parent(scope: Scope, folder: Folder, parent: Folder | None) -> str | None:
    """The folder's parent as the principal may know it (``None`` when not visible)."""
    if parent is None or scope.role_at(parent.path) is None:
        return None
    return parent.id


def _check_metadata(conn: sa.Connection, metadata: Any) -> dict[str, Any] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidName("clientMetadata must be a JSON object")
    storable_text(metadata, "clientMetadata")
    problem = check_client_metadata(load(conn), metadata)
    if problem is not None:
        raise InvalidName(f"clientMetadata: {problem}")
    return metadata


def create_folder(
    app: Accessio,
    who: Principal,
    name: str,
    *,
    parent_id: str | None = None,
    description: str = "",
    client_metadata: dict[str, Any] | None = None,
    sync: tuple[str, str] | None = None,
) -> Seen:
    """A new folder, at the top level or under a folder where the principal is an editor;
    ``sync``: (integration, prefix URL) it follows, through an integration the principal may use."""
    storable_text(description, "description")
    source: tuple[str, str] | None = None
    if sync is not None:
        from accessio.jobs.sync import check_source  # noqa: PLC0415 - the jobs package loads when used
        from accessio.service.jobs import integration_for  # noqa: PLC0415 - it imports this module

        with app.engine.connect() as conn:
            integration = integration_for(conn, who, sync[0])
        source = (integration.id, check_source(app.storage(integration.id), sync[1]))
    with app.engine.begin() as conn:
        scope = scope_of(conn, who)
        parent = folder_for(conn, scope, parent_id, Role.EDITOR).folder if parent_id else None
        folder = folder_store.create_child(
            conn,
            parent,
            name,
            description=description,
            client_metadata=_check_metadata(conn, client_metadata),
            owner_id=who.user_id,
        )
        if source is not None:
            folder_store.follow(conn, folder, *source)
            folder = replace(folder, sync_integration_id=source[0], sync_prefix=source[1])
        return Seen(folder, scope.role_at(folder.path) or Role.ADMIN)


_ORDERS = {"name": folders.c.name, "createdAt": folders.c.created_at}


def _token(order: str, desc: bool, value: Any, folder_id: str) -> str:
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = msgspec.json.encode([order, desc, shown, folder_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, order: str, desc: bool) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        was_order, was_desc, value, folder_id = msgspec.json.decode(raw)
        if was_order != order or was_desc != desc or not isinstance(folder_id, str) or not isinstance(value, str):
            raise ValueError(token)
        if "\x00" in value or "\x00" in folder_id:  # no stored text holds one; PostgreSQL refuses them
            raise ValueError(token)
        moment = datetime.fromisoformat(value) if order == "createdAt" else None
        if moment is not None and moment.tzinfo is not None:
            moment.astimezone(UTC)  # OverflowError at the ends of the calendar
        return (value if moment is None else moment), folder_id
    except (ValueError, TypeError, OverflowError, binascii.Error, msgspec.DecodeError):
        raise BadPageToken("pageToken is not a token this listing gave (same order and desc are needed)") from None


def list_folders(
    app: Accessio,
    who: Principal,
    *,
    parent_id: str | None = None,
    recursive: bool = False,
    search: str | None = None,
    order: str = "name",
    desc: bool = False,
    page_size: int = 100,
    page_token: str | None = None,
) -> FolderPage:
    """Folders the principal sees: the top level (``parent_id`` None; for a member,
    where their folders start), or a folder's children (all below it when
    ``recursive``); ``search`` keeps names that hold it (case-insensitive)."""
    if order not in _ORDERS:
        raise InvalidName(f"order must be one of {', '.join(_ORDERS)}, not {order!r}")
    if not 1 <= page_size <= 1000:
        raise InvalidName(f"pageSize must be 1 to 1000, not {page_size}")
    with app.engine.connect() as conn:
        scope = scope_of(conn, who)
        conditions: list[sa.ColumnElement[bool]] = []
        if parent_id is not None:
            parent = folder_for(conn, scope, parent_id).folder
            if recursive:
                conditions.append(folder_store.subtree(parent.path))
                conditions.append(folders.c.id != parent.id)
            else:
                conditions.append(folders.c.parent_id == parent.id)
        elif recursive:
            visible = scope.folder_condition()
            if visible is not None:
                conditions.append(visible)
        elif who.sees_everything:
            conditions.append(folders.c.parent_id.is_(None))
        else:
            conditions.append(folders.c.path.in_(scope.entry_points()))
        if search:
            conditions.append(sa.func.lower(folders.c.name).contains(search.lower(), autoescape=True))
        column = _ORDERS[order]
        if page_token:
            value, last_id = _untoken(page_token, order, desc)
            mark = sa.tuple_(sa.literal(value, column.type), sa.literal(last_id))
            position = sa.tuple_(column, folders.c.id)
            conditions.append(position < mark if desc else position > mark)
        ordering = (column.desc(), folders.c.id.desc()) if desc else (column, folders.c.id)
        rows = conn.execute(sa.select(folders).where(*conditions).order_by(*ordering).limit(page_size + 1)).all()
        found = [
            Seen(folder_store.folder_of_row(row), scope.role_at(row.path) or Role.VIEWER) for row in rows[:page_size]
        ]
    next_token = None
    if len(rows) > page_size:
        last = found[-1].folder
        next_token = _token(order, desc, last.name if order == "name" else last.created_at, last.id)
    return FolderPage(found, next_token)


def update_folder(
    app: Accessio,
    who: Principal,
    folder_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    client_metadata: dict[str, Any] | None = None,
) -> Seen:
    """Change a folder: its description and client metadata (editors), its name (admins)."""
    if description is not None:
        storable_text(description, "description")
    with app.engine.begin() as conn:
        scope = scope_of(conn, who)
        seen = folder_for(conn, scope, folder_id, Role.ADMIN if name is not None else Role.EDITOR)
        folder = folder_store.update(
            conn,
            seen.folder,
            name=name,
            description=description,
            client_metadata=_check_metadata(conn, client_metadata),
        )
        return Seen(folder, seen.role)


def move_folders(app: Accessio, who: Principal, folder_ids: list[str], new_parent_id: str | None) -> list[Seen]:
    """Move folders (admins of each) under a folder (its editors), or to the top level."""
    with app.engine.begin() as conn:
        scope = scope_of(conn, who)
        parent = folder_for(conn, scope, new_parent_id, Role.EDITOR).folder if new_parent_id else None
        moved = []
        for folder_id in dict.fromkeys(folder_ids):
            seen = folder_for(conn, scope, folder_id, Role.ADMIN)
            moved.append(Seen(folder_store.move(conn, seen.folder, parent), seen.role))
        return moved


def delete_folder(app: Accessio, who: Principal, folder_id: str) -> int:
    """Delete a folder with everything below it (its admins); refused while a job runs
    in it. Returns how many items were deleted."""
    with app.engine.begin() as conn:
        folder = folder_for(conn, scope_of(conn, who), folder_id, Role.ADMIN).folder
        ids = folder_store.subtree_ids(conn, folder)
        running = conn.execute(
            sa.select(jobs.c.id).where(jobs.c.folder_id.in_(ids), jobs.c.status == "PENDING").limit(1)
        ).first()
        if running is not None:
            raise FolderBusy(f"job {running.id} is registering into this folder: cancel it or wait for it first")
        job_ids = sa.select(jobs.c.id).where(jobs.c.folder_id.in_(ids))
        conn.execute(unit_errors.delete().where(unit_errors.c.job_id.in_(job_ids)))
        conn.execute(jobs.delete().where(jobs.c.folder_id.in_(ids)))
        conn.execute(uploads.delete().where(uploads.c.folder_id.in_(ids)))
        removed = conn.execute(items.delete().where(items.c.folder_id.in_(ids))).rowcount
        conn.execute(folders.delete().where(folders.c.id.in_(ids)))
        return int(removed)


def summary(app: Accessio, who: Principal, folder_id: str) -> dict[str, Any]:
    """Counts of a folder's items by type, subfolders, jobs and bytes (E12's keys)."""
    with app.engine.connect() as conn:
        folder = folder_for(conn, scope_of(conn, who), folder_id).folder
        by_type: dict[str, int] = dict(
            conn.execute(
                sa.select(items.c.item_type, sa.func.count())
                .where(
                    items.c.folder_id == folder.id,
                    items.c.is_tombstone.is_(sa.false()),
                    # frames count with their group; a series' files are its dicomFiles
                    sa.or_(items.c.parent_item_id.is_(None), items.c.item_type == "dicomFile"),
                )
                .group_by(items.c.item_type)
            ).all()
        )
        top = conn.execute(
            sa.select(sa.func.count()).where(
                items.c.folder_id == folder.id, items.c.parent_item_id.is_(None), items.c.is_tombstone.is_(sa.false())
            )
        ).scalar_one()
        tombstones = conn.execute(
            sa.select(sa.func.count()).where(items.c.folder_id == folder.id, items.c.is_tombstone.is_(sa.true()))
        ).scalar_one()
        size = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(items.c.file_size), 0)).where(items.c.folder_id == folder.id)
        ).scalar_one()
        subfolders = conn.execute(sa.select(sa.func.count()).where(folders.c.parent_id == folder.id)).scalar_one()
        job_count = conn.execute(sa.select(sa.func.count()).where(jobs.c.folder_id == folder.id)).scalar_one()
    count = {name: int(by_type.get(kind, 0)) for kind, name in _SUMMARY_TYPES.items()}
    return {
        "files": int(top),
        "folders": int(subfolders),
        **count,
        "tombstones": int(tombstones),
        "uploadJobs": int(job_count),
        "totalSize": float(size),
    }


_SUMMARY_TYPES = {
    "video": "videos",
    "image": "images",
    "imageGroup": "imageGroups",
    "imageSequence": "imageSequences",
    "dicomFile": "dicomFiles",
    "dicomSeries": "dicomSeries",
    "nifti": "niftis",
    "audio": "audios",
    "pdf": "pdfs",
    "plainText": "plainTexts",
}


def share(app: Accessio, who: Principal, folder_id: str, user: str, role: Role) -> Seen:
    """Share a folder (and every folder below it) with a user (the folder's admins)."""
    with app.engine.begin() as conn:
        seen = folder_for(conn, scope_of(conn, who), folder_id, Role.ADMIN)
        target = _user_named(conn, user)
        accounts.share_folder(conn, seen.folder.id, target.id, role)
        return seen


def unshare(app: Accessio, who: Principal, folder_id: str, user: str) -> bool:
    with app.engine.begin() as conn:
        seen = folder_for(conn, scope_of(conn, who), folder_id, Role.ADMIN)
        return accounts.unshare_folder(conn, seen.folder.id, _user_named(conn, user).id)


def shares(app: Accessio, who: Principal, folder_id: str) -> list[tuple[accounts.User, Role]]:
    with app.engine.connect() as conn:
        seen = folder_for(conn, scope_of(conn, who), folder_id, Role.ADMIN)
        return accounts.folder_shares(conn, seen.folder.id)


def _user_named(conn: sa.Connection, name: str) -> accounts.User:
    try:
        return accounts.get_user(conn, name)
    except NotFound:
        raise NotFound("user", name) from None


@dataclass(frozen=True)
class FolderView:
    """A folder as shown to a principal: its visible parent, the visible folders from
    it up to the root (itself first), and its owner's name."""

    folder: Folder
    role: Role
    parent_id: str | None
    path_to_root: list[Folder]
    owner: str


def describe(app: Accessio, who: Principal, seen: list[Seen]) -> list[FolderView]:
    """Views of folders (a page of them) in two queries."""
    if not seen:
        return []
    with app.engine.connect() as conn:
        scope = scope_of(conn, who)
        paths = sorted({p for s in seen for p in s.folder.ancestor_paths()})
        above = {f.path: f for f in folder_store.by_paths(conn, paths)}
        owners = accounts.user_names(conn, {s.folder.owner_id for s in seen if s.folder.owner_id})
    views = []
    for item in seen:
        chain = [above[p] for p in reversed(item.folder.ancestor_paths()) if p in above]
        visible = [f for f in chain if scope.role_at(f.path) is not None]
        parent = chain[0] if chain and chain[0].id == item.folder.parent_id else None
        views.append(
            FolderView(
                item.folder,
                item.role,
                visible_parent(scope, item.folder, parent),
                [item.folder, *visible],
                owners.get(item.folder.owner_id or "", "operator"),
            )
        )
    return views
