"""Folders: nested, addressed by path (``datasets/cars``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from accessio.catalog.errors import AlreadyExists, InvalidName, NotFound
from accessio.catalog.schema import folders, items
from accessio.errors import AccessioError


@dataclass(frozen=True)
class Folder:
    """One folder of the catalog."""

    id: str
    parent_id: str | None
    path: str
    name: str
    description: str
    client_metadata: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    owner_id: str | None = None
    # a cloud-synced folder: the integration and prefix it follows (``accessio.jobs.sync``)
    sync_integration_id: str | None = None
    sync_prefix: str | None = None
    synced_at: datetime | None = None

    def ancestor_paths(self) -> list[str]:
        """The paths of the folders above this one, nearest last (``a``, ``a/b`` for ``a/b/c``)."""
        names = self.path.split("/")
        return ["/".join(names[:depth]) for depth in range(1, len(names))]


def check_name(name: str) -> str:
    """A folder name as stored (trimmed); ``InvalidName`` when it cannot be one."""
    stripped = name.strip()
    if not stripped or "/" in stripped:
        raise InvalidName(f"{name!r} is not a folder name: not empty, without '/'")
    if len(stripped) > 300 or not stripped.isprintable() or stripped in (".", ".."):
        raise InvalidName(f"{name!r} is not a folder name (printable, at most 300 characters, not . or ..)")
    return stripped


def split_path(path: str) -> list[str]:
    """The names of a folder path; ``InvalidName`` when one is empty, too long or odd."""
    names = [part.strip() for part in path.strip().strip("/").split("/")]
    if not names or any(not n for n in names):
        raise InvalidName(f"{path!r} is not a folder path: use names separated by '/', like datasets/cars")
    for name in names:
        if len(name) > 300 or not name.isprintable() or name in (".", ".."):
            raise InvalidName(f"{name!r} is not a folder name (printable, at most 300 characters, not . or ..)")
    return names


def folder_of_row(row: Any) -> Folder:
    return Folder(**{c: getattr(row, c) for c in Folder.__dataclass_fields__})


def create(
    conn: sa.Connection, path: str, description: str = "", *, exist_ok: bool = False, owner_id: str | None = None
) -> Folder:
    """Create a folder and any missing parents (owned by ``owner_id``: ``None`` is the operator)."""
    names = split_path(path)
    parent: Folder | None = None
    now = datetime.now(UTC)
    for depth, name in enumerate(names, start=1):
        current = "/".join(names[:depth])
        row = conn.execute(sa.select(folders).where(folders.c.path == current)).first()
        if row is not None:
            if depth == len(names) and not exist_ok:
                raise AlreadyExists("folder", current)
            parent = folder_of_row(row)
            continue
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "parent_id": parent.id if parent else None,
            "path": current,
            "name": name,
            "description": description if depth == len(names) else "",
            "client_metadata": None,
            "created_at": now,
            "updated_at": now,
            "owner_id": owner_id,
        }
        conn.execute(folders.insert().values(**values))
        parent = Folder(**values)
    assert parent is not None
    return parent


def get(conn: sa.Connection, path: str) -> Folder:
    """The folder at ``path``."""
    normal = "/".join(split_path(path))
    row = conn.execute(sa.select(folders).where(folders.c.path == normal)).first()
    if row is None:
        raise NotFound("folder", normal)
    return folder_of_row(row)


def get_by_id(conn: sa.Connection, folder_id: str) -> Folder:
    row = conn.execute(sa.select(folders).where(folders.c.id == folder_id)).first()
    if row is None:
        raise NotFound("folder", folder_id)
    return folder_of_row(row)


def children(conn: sa.Connection, path: str | None = None) -> list[Folder]:
    """The folders directly under ``path`` (the top level when ``None``)."""
    parent_id = get(conn, path).id if path else None
    query = (
        sa.select(folders)
        .where(folders.c.parent_id == parent_id if parent_id else folders.c.parent_id.is_(None))
        .order_by(folders.c.name)
    )
    return [folder_of_row(row) for row in conn.execute(query)]


def create_child(
    conn: sa.Connection,
    parent: Folder | None,
    name: str,
    *,
    description: str = "",
    client_metadata: dict[str, Any] | None = None,
    owner_id: str | None = None,
) -> Folder:
    """Create one folder under ``parent`` (the top level when ``None``)."""
    name = check_name(name)
    path = f"{parent.path}/{name}" if parent else name
    if conn.execute(sa.select(folders.c.id).where(folders.c.path == path)).first() is not None:
        raise AlreadyExists("folder", path)
    now = datetime.now(UTC)
    folder = Folder(
        id=str(uuid.uuid4()),
        parent_id=parent.id if parent else None,
        path=path,
        name=name,
        description=description,
        client_metadata=client_metadata,
        created_at=now,
        updated_at=now,
        owner_id=owner_id,
    )
    conn.execute(folders.insert().values(**folder.__dict__))
    return folder


def by_paths(conn: sa.Connection, paths: list[str]) -> list[Folder]:
    """The folders at these paths (those that exist), in the order given."""
    if not paths:
        return []
    found = {row.path: folder_of_row(row) for row in conn.execute(sa.select(folders).where(folders.c.path.in_(paths)))}
    return [found[path] for path in paths if path in found]


def subtree(path: str) -> sa.ColumnElement[bool]:
    """A condition on ``folders.path``: the folder at ``path`` and every folder below it."""
    return sa.or_(folders.c.path == path, sa.func.substr(folders.c.path, 1, len(path) + 1) == path + "/")


def _repath(conn: sa.Connection, old: str, new: str) -> None:
    """Move a folder's path (and its descendants') from ``old`` to ``new``."""
    if conn.execute(sa.select(folders.c.id).where(folders.c.path == new)).first() is not None:
        raise AlreadyExists("folder", new)
    conn.execute(
        folders.update()
        .where(subtree(old))
        .values(path=sa.literal(new) + sa.func.substr(folders.c.path, len(old) + 1), updated_at=datetime.now(UTC))
    )


def update(
    conn: sa.Connection,
    folder: Folder,
    *,
    name: str | None = None,
    description: str | None = None,
    client_metadata: dict[str, Any] | None = None,
) -> Folder:
    """Rename a folder (its subfolders' paths follow) or change its description or metadata."""
    values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    if name is not None and check_name(name) != folder.name:
        name = check_name(name)
        parent_path = folder.path.rpartition("/")[0]
        new_path = f"{parent_path}/{name}" if parent_path else name
        _repath(conn, folder.path, new_path)
        values["name"] = name
    if description is not None:
        values["description"] = description
    if client_metadata is not None:
        values["client_metadata"] = client_metadata
    conn.execute(folders.update().where(folders.c.id == folder.id).values(**values))
    return get_by_id(conn, folder.id)


def move(conn: sa.Connection, folder: Folder, new_parent: Folder | None) -> Folder:
    """Put a folder (with everything below it) under ``new_parent`` (the top level when ``None``)."""
    if new_parent is not None and (new_parent.path == folder.path or new_parent.path.startswith(folder.path + "/")):
        raise InvalidName(f"cannot move folder {folder.path!r} into itself or a folder below it")
    new_path = f"{new_parent.path}/{folder.name}" if new_parent else folder.name
    if new_path != folder.path:
        _repath(conn, folder.path, new_path)
    parent_id = new_parent.id if new_parent else None
    conn.execute(folders.update().where(folders.c.id == folder.id).values(parent_id=parent_id))
    return get_by_id(conn, folder.id)


def subtree_ids(conn: sa.Connection, folder: Folder) -> list[str]:
    return list(conn.execute(sa.select(folders.c.id).where(subtree(folder.path))).scalars())


class NotSynced(AccessioError):
    """The folder follows no prefix."""

    status = 400
    code = "folder.not_synced"


class SyncedFolder(AccessioError):
    """A synced folder's items come from its prefix: nothing else registers into it."""

    status = 409
    code = "folder.synced"


def follow(conn: sa.Connection, folder: Folder, integration_id: str, prefix: str) -> None:
    """Make a folder follow a prefix: a new folder, or an empty one that follows none yet."""
    if folder.sync_prefix is not None:
        raise SyncedFolder(f"folder {folder.path} follows {folder.sync_prefix} already")
    if conn.execute(sa.select(items.c.id).where(items.c.folder_id == folder.id).limit(1)).first() is not None:
        raise SyncedFolder(f"folder {folder.path} holds items already: a synced folder starts empty")
    conn.execute(
        folders.update().where(folders.c.id == folder.id).values(sync_integration_id=integration_id, sync_prefix=prefix)
    )
