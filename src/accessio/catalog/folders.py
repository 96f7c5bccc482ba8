"""Folders: nested, addressed by path (``datasets/cars``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from accessio.catalog.errors import AlreadyExists, InvalidName, NotFound
from accessio.catalog.schema import folders


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


def split_path(path: str) -> list[str]:
    """The names of a folder path; ``InvalidName`` when one is empty, too long or odd."""
    names = [part.strip() for part in path.strip().strip("/").split("/")]
    if not names or any(not n for n in names):
        raise InvalidName(f"{path!r} is not a folder path: use names separated by '/', like datasets/cars")
    for name in names:
        if len(name) > 300 or not name.isprintable() or name in (".", ".."):
            raise InvalidName(f"{name!r} is not a folder name (printable, at most 300 characters, not . or ..)")
    return names


def _folder(row: Any) -> Folder:
    return Folder(**{c: getattr(row, c) for c in Folder.__dataclass_fields__})


def create(conn: sa.Connection, path: str, description: str = "", *, exist_ok: bool = False) -> Folder:
    """Create a folder and any missing parents."""
    names = split_path(path)
    parent: Folder | None = None
    now = datetime.now(UTC)
    for depth, name in enumerate(names, start=1):
        current = "/".join(names[:depth])
        row = conn.execute(sa.select(folders).where(folders.c.path == current)).first()
        if row is not None:
            if depth == len(names) and not exist_ok:
                raise AlreadyExists("folder", current)
            parent = _folder(row)
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
    return _folder(row)


def get_by_id(conn: sa.Connection, folder_id: str) -> Folder:
    row = conn.execute(sa.select(folders).where(folders.c.id == folder_id)).first()
    if row is None:
        raise NotFound("folder", folder_id)
    return _folder(row)


def children(conn: sa.Connection, path: str | None = None) -> list[Folder]:
    """The folders directly under ``path`` (the top level when ``None``)."""
    parent_id = get(conn, path).id if path else None
    query = (
        sa.select(folders)
        .where(folders.c.parent_id == parent_id if parent_id else folders.c.parent_id.is_(None))
        .order_by(folders.c.name)
    )
    return [_folder(row) for row in conn.execute(query)]
