"""The operator's lookups (the local CLI sees the whole catalog): a name that is not
found gets a "did you mean", and an id may be given as a unique prefix.

A server's caller never goes through here: suggesting a name could show a folder or
an integration that the caller may not see (``service.access`` scopes those lookups).
"""

from __future__ import annotations

import difflib
import re

import sqlalchemy as sa

from accessio.catalog import folders as folder_store
from accessio.catalog import integrations as integration_store
from accessio.catalog.errors import AmbiguousId, NotFound
from accessio.catalog.schema import folders, integrations

_FULL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]{3,35}")
MIN_PREFIX = 4


def did_you_mean(given: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name (case aside first), else ``""``."""
    folded = {name.casefold(): name for name in known}
    close = [folded[given.casefold()]] if given.casefold() in folded else []
    close = close or difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def folder(conn: sa.Connection, path: str) -> folder_store.Folder:
    """The folder at ``path``; ``NotFound`` names the closest existing path."""
    try:
        return folder_store.get(conn, path)
    except NotFound as exc:
        known = list(conn.execute(sa.select(folders.c.path)).scalars())
        raise NotFound("folder", exc.key, did_you_mean(exc.key, known)) from None


def integration(conn: sa.Connection, name_or_id: str) -> integration_store.IntegrationRecord:
    """The integration named (or with the id) ``name_or_id``; ``NotFound`` names the closest one."""
    try:
        return integration_store.get(conn, name_or_id)
    except NotFound:
        known = list(conn.execute(sa.select(integrations.c.name)).scalars())
        hint = did_you_mean(name_or_id, known) or (
            "" if known else " (there is none yet: accessio integration add NAME --provider ...)"
        )
        raise NotFound("integration", name_or_id, hint) from None


def full_id(conn: sa.Connection, column: sa.Column[str], given: str, what: str) -> str:
    """The id that ``given`` starts with (at least 4 characters), or ``given`` itself when it
    is a whole id or no prefix of one (the caller's own lookup then says "not found")."""
    text = given.strip().lower()
    if _FULL_ID.fullmatch(text) or not _PREFIX.fullmatch(text):
        return given
    condition = column.startswith(text, autoescape=True)
    if conn.dialect.name == "sqlite":  # byte order: a range on the primary key uses its index
        condition = sa.and_(column >= text, column < text[:-1] + chr(ord(text[-1]) + 1), condition)
    found = list(conn.execute(sa.select(column).where(condition).limit(2)).scalars())
    if len(found) > 1:
        raise AmbiguousId(what, given)
    if not found:
        raise NotFound(what, given)
    return str(found[0])
