"""Integrations as stored: configuration and a credential reference, never a secret."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from accessio.catalog.errors import AlreadyExists, InvalidName, NotFound
from accessio.catalog.schema import integrations

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass(frozen=True)
class IntegrationRecord:
    """A stored integration."""

    id: str
    name: str
    provider: str
    access_mode: str
    root: str | None
    endpoint: str | None
    region: str | None
    credentials_ref: str | None
    allow_private_network: bool
    sign_ttl_s: int
    created_at: datetime
    upload_target: bool = False
    write_prefix: str | None = None  # where Accessio may write (image sequences' videos); None: read-only


def _record(row: Any) -> IntegrationRecord:
    return IntegrationRecord(**{c: getattr(row, c) for c in IntegrationRecord.__dataclass_fields__})


def add(conn: sa.Connection, **values: Any) -> IntegrationRecord:
    """Store a new integration; its name must be free."""
    name = values["name"]
    if not _NAME.match(name):
        raise InvalidName(f"{name!r} is not an integration name (letters, digits, '.', '_', '-')")
    if conn.execute(sa.select(integrations.c.id).where(integrations.c.name == name)).first():
        raise AlreadyExists("integration", name)
    row = {"id": str(uuid.uuid4()), "created_at": datetime.now(UTC), **values}
    conn.execute(integrations.insert().values(**row))
    return IntegrationRecord(**row)


def get(conn: sa.Connection, name_or_id: str) -> IntegrationRecord:
    query = sa.select(integrations).where(sa.or_(integrations.c.name == name_or_id, integrations.c.id == name_or_id))
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("integration", name_or_id)
    return _record(row)


def all_integrations(conn: sa.Connection) -> list[IntegrationRecord]:
    return [_record(row) for row in conn.execute(sa.select(integrations).order_by(integrations.c.name))]


def set_upload_target(conn: sa.Connection, integration_id: str, on: bool) -> None:
    """Make an integration the one the server's uploads go to (at most one is), or not."""
    if on:
        conn.execute(integrations.update().where(integrations.c.upload_target.is_(sa.true())).values(upload_target=False))
    conn.execute(integrations.update().where(integrations.c.id == integration_id).values(upload_target=on))


def set_write_prefix(conn: sa.Connection, integration_id: str, prefix: str | None) -> None:
    """Let Accessio write under ``prefix`` (a URL inside the integration), or nowhere (``None``)."""
    conn.execute(integrations.update().where(integrations.c.id == integration_id).values(write_prefix=prefix))


def set_sign_ttl(conn: sa.Connection, integration_id: str, seconds: int) -> None:
    """Set the longest a URL signed through the integration stays valid (the caller checks the bounds)."""
    conn.execute(integrations.update().where(integrations.c.id == integration_id).values(sign_ttl_s=seconds))
