"""Who may see and do what: principals, roles, and the scope of a principal.

- The **operator** (the local CLI on the catalog) and **admins** see and do everything.
- A **member** sees the folders they made and those shared with them, with every
  folder below them: their *roots*. Their role in a folder is the highest role any
  root above it (or the folder itself) gives: owning a folder makes one its admin.
- Items and jobs are seen through their folder.

Scopes compile to SQL conditions on folder paths, so listings never fetch rows to
filter them afterwards. "Not visible" and "does not exist" are the same
:class:`~accessio.catalog.errors.NotFound`; "visible, but the role is too low" is
:class:`Forbidden`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from accessio.catalog.accounts import Role
from accessio.catalog.errors import InvalidName, NotFound
from accessio.catalog.schema import folder_grants, folders, integration_grants, items
from accessio.errors import AccessioError


class Forbidden(AccessioError):
    """The caller sees the folder (or item) but their role does not allow the change."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    """Who acts: a user of the server, or the operator (``user_id`` is ``None``)."""

    user_id: str | None
    name: str
    is_admin: bool

    @property
    def sees_everything(self) -> bool:
        return self.is_admin


OPERATOR = Principal(None, "operator", True)


@dataclass(frozen=True)
class Scope:
    """What a principal sees: everything, or the folders under its roots."""

    principal: Principal
    roots: tuple[tuple[str, Role], ...] = ()  # (folder path, role), for members only

    def role_at(self, path: str) -> Role | None:
        """The principal's role in the folder at ``path``; ``None`` when it is not visible."""
        if self.principal.sees_everything:
            return Role.ADMIN
        best: Role | None = None
        for root, role in self.roots:
            if (path == root or path.startswith(root + "/")) and (best is None or role > best):
                best = role
        return best

    def entry_points(self, least: Role = Role.VIEWER) -> list[str]:
        """The roots (giving at least ``least``) not below another such root: where a
        member's folder tree starts."""
        paths = sorted({root for root, role in self.roots if role >= least})
        tops: list[str] = []
        for path in paths:
            if not any(path.startswith(top + "/") for top in tops):
                tops.append(path)
        return tops

    def folder_condition(
        self, path: sa.ColumnElement[str] = folders.c.path, *, least: Role = Role.VIEWER
    ) -> sa.ColumnElement[bool] | None:
        """A condition on a folder path column that keeps the folders where the principal
        has at least the role ``least`` (``None``: all folders)."""
        if self.principal.sees_everything:
            return None
        tops = self.entry_points(least)
        if not tops:
            return sa.false()
        return sa.or_(*(sa.or_(path == top, sa.func.substr(path, 1, len(top) + 1) == top + "/") for top in tops))


def scope_of(conn: sa.Connection, principal: Principal) -> Scope:
    """The scope of a principal, read in one query (its owned and shared folders)."""
    if principal.sees_everything or principal.user_id is None:
        return Scope(principal)
    me = principal.user_id
    owned = sa.select(folders.c.path, sa.literal(Role.ADMIN.wire).label("role")).where(folders.c.owner_id == me)
    shared = (
        sa.select(folders.c.path, folder_grants.c.role)
        .join(folder_grants, folder_grants.c.folder_id == folders.c.id)
        .where(folder_grants.c.user_id == me)
    )
    roots = tuple((path, Role.parse(role)) for path, role in conn.execute(sa.union_all(owned, shared)).all())
    return Scope(principal, roots)


def require_role(scope: Scope, path: str, need: Role, *, what: str, key: str) -> Role:
    """The principal's role at ``path``: :class:`NotFound` when it is not visible
    (as if it did not exist), :class:`Forbidden` when the role is below ``need``."""
    role = scope.role_at(path)
    if role is None:
        raise NotFound(what, key)
    if role < need:
        raise Forbidden(f"your role in this folder is {role.wire}; this needs {need.wire}")
    return role


def integration_condition(principal: Principal, integration_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool] | None:
    """A condition that keeps the integrations granted to the principal (``None``: all)."""
    if principal.sees_everything:
        return None
    granted = sa.select(integration_grants.c.integration_id).where(integration_grants.c.user_id == principal.user_id)
    return integration_id.in_(granted)


def item_condition(scope: Scope, *, least: Role = Role.VIEWER) -> sa.ColumnElement[bool] | None:
    """A condition on ``items`` that keeps the items of folders where the principal has
    at least the role ``least`` (``None``: all items)."""
    condition = scope.folder_condition(least=least)
    if condition is None:
        return None
    return items.c.folder_id.in_(sa.select(folders.c.id).where(condition))


def storable_text(value: object, where: str) -> None:
    """``InvalidName`` when a value holds a NUL character (PostgreSQL stores none, in text or jsonb)."""
    found = "\x00" in value if isinstance(value, str) else "\\u0000" in json.dumps(value)
    if found:
        raise InvalidName(f"{where} holds a NUL character (\\u0000), which the catalog cannot store")
