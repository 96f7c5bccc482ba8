"""Users, their API tokens, and what is shared with them (folders, integrations).

Tokens are 256-bit random strings shown once; only their SHA-256 is stored, so a
copy of the catalog holds no usable token. A fast hash is enough for a secret of
that entropy (a password needs argon2; a token does not).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

import sqlalchemy as sa

from accessio.catalog.errors import AlreadyExists, InvalidName, NotFound
from accessio.catalog.schema import api_tokens, folder_grants, integration_grants, users, web_sessions

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")
TOKEN_PREFIX = "acc_"


class Role(IntEnum):
    """What a user may do in a folder; each role includes the ones below it."""

    VIEWER = 1  # see the folder, its subfolders, items and jobs
    EDITOR = 2  # register, change and move items, make subfolders
    ADMIN = 3  # rename, move, delete and share the folder

    @property
    def wire(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"role {text!r} is not one of viewer, editor, admin") from None


@dataclass(frozen=True)
class User:
    id: str
    name: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class Token:
    """An API token as stored (never the token itself)."""

    id: str
    user_id: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _user(row: Any) -> User:
    return User(row.id, row.name, bool(row.is_admin), row.created_at)


def add_user(conn: sa.Connection, name: str, *, is_admin: bool = False) -> User:
    if not _USER_NAME.match(name):
        raise InvalidName(f"{name!r} is not a user name (letters, digits and . _ @ + -, at most 100)")
    if conn.execute(sa.select(users.c.id).where(users.c.name == name)).first():
        raise AlreadyExists("user", name)
    user = User(str(uuid.uuid4()), name, is_admin, datetime.now(UTC))
    conn.execute(users.insert().values(id=user.id, name=name, is_admin=is_admin, created_at=user.created_at))
    return user


def get_user(conn: sa.Connection, name_or_id: str) -> User:
    row = conn.execute(sa.select(users).where(sa.or_(users.c.name == name_or_id, users.c.id == name_or_id))).first()
    if row is None:
        raise NotFound("user", name_or_id)
    return _user(row)


def all_users(conn: sa.Connection) -> list[User]:
    return [_user(row) for row in conn.execute(sa.select(users).order_by(users.c.name))]


def user_names(conn: sa.Connection, ids: set[str]) -> dict[str, str]:
    """User names by id (for owners shown next to folders and items)."""
    if not ids:
        return {}
    return dict(conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(sorted(ids)))).all())


def set_password_hash(conn: sa.Connection, user_id: str, password_hash: str | None) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


def password_hash(conn: sa.Connection, name: str) -> tuple[User, str | None] | None:
    row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    return None if row is None else (_user(row), row.password_hash)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    conn: sa.Connection, user_id: str, *, label: str = "", expires_days: int | None = None
) -> tuple[Token, str]:
    """A new token for a user: the stored record and the token itself (shown once)."""
    if expires_days is not None and not 1 <= expires_days <= 36_500:
        raise ValueError("a token expires after 1 to 36,500 days")
    if len(label) > 200 or not label.isprintable():
        raise ValueError("a token label is at most 200 printable characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    token = Token(
        id=str(uuid.uuid4()),
        user_id=user_id,
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
        last_used_at=None,
        revoked_at=None,
    )
    conn.execute(
        api_tokens.insert().values(
            id=token.id,
            user_id=user_id,
            label=label,
            token_hash=hash_token(secret),
            created_at=now,
            expires_at=token.expires_at,
        )
    )
    return token, secret


def _token(row: Any) -> Token:
    return Token(**{name: getattr(row, name) for name in Token.__dataclass_fields__})


def tokens(conn: sa.Connection, user_id: str | None = None) -> list[Token]:
    query = sa.select(api_tokens).order_by(api_tokens.c.created_at)
    if user_id is not None:
        query = query.where(api_tokens.c.user_id == user_id)
    return [_token(row) for row in conn.execute(query)]


def revoke_token(conn: sa.Connection, token_id: str, *, user_id: str | None = None) -> Token:
    """Revoke a token (only one of ``user_id`` when given: another user's is not found)."""
    query = sa.select(api_tokens).where(api_tokens.c.id == token_id)
    if user_id is not None:
        query = query.where(api_tokens.c.user_id == user_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("token", token_id)
    if row.revoked_at is None:
        conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(revoked_at=datetime.now(UTC)))
    return _token(conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).one())


def user_of_token(conn: sa.Connection, token: str, now: datetime) -> tuple[User, Token] | None:
    """The user a usable token belongs to, or ``None`` (unknown, revoked or expired)."""
    row = conn.execute(
        sa.select(api_tokens, users.c.name, users.c.is_admin, users.c.created_at.label("user_created_at"))
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    found = _token(row)
    if not found.usable(now):
        return None
    return User(row.user_id, row.name, bool(row.is_admin), row.user_created_at), found


def touch_token(conn: sa.Connection, token_id: str, now: datetime) -> None:
    conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=now))


# grants


def share_folder(conn: sa.Connection, folder_id: str, user_id: str, role: Role) -> None:
    """Give a user a role on a folder (and so on every folder below it); replaces an earlier role."""
    conn.execute(
        folder_grants.delete().where(folder_grants.c.folder_id == folder_id, folder_grants.c.user_id == user_id)
    )
    now = datetime.now(UTC)
    conn.execute(folder_grants.insert().values(folder_id=folder_id, user_id=user_id, role=role.wire, created_at=now))


def unshare_folder(conn: sa.Connection, folder_id: str, user_id: str) -> bool:
    result = conn.execute(
        folder_grants.delete().where(folder_grants.c.folder_id == folder_id, folder_grants.c.user_id == user_id)
    )
    return result.rowcount > 0


def folder_shares(conn: sa.Connection, folder_id: str) -> list[tuple[User, Role]]:
    rows = conn.execute(
        sa.select(users, folder_grants.c.role)
        .join(folder_grants, folder_grants.c.user_id == users.c.id)
        .where(folder_grants.c.folder_id == folder_id)
        .order_by(users.c.name)
    )
    return [(_user(row), Role.parse(row.role)) for row in rows]


def grant_integration(conn: sa.Connection, integration_id: str, user_id: str) -> None:
    exists = conn.execute(
        sa.select(integration_grants.c.user_id).where(
            integration_grants.c.integration_id == integration_id, integration_grants.c.user_id == user_id
        )
    ).first()
    if exists is None:
        conn.execute(
            integration_grants.insert().values(
                integration_id=integration_id, user_id=user_id, created_at=datetime.now(UTC)
            )
        )


def revoke_integration(conn: sa.Connection, integration_id: str, user_id: str) -> bool:
    result = conn.execute(
        integration_grants.delete().where(
            integration_grants.c.integration_id == integration_id, integration_grants.c.user_id == user_id
        )
    )
    return result.rowcount > 0


def integration_users(conn: sa.Connection, integration_id: str) -> list[User]:
    rows = conn.execute(
        sa.select(users)
        .join(integration_grants, integration_grants.c.user_id == users.c.id)
        .where(integration_grants.c.integration_id == integration_id)
        .order_by(users.c.name)
    )
    return [_user(row) for row in rows]


# web sessions


SESSION_DAYS = 14


def open_session(conn: sa.Connection, user_id: str) -> tuple[str, str]:
    """A new signed-in session: the cookie value (shown once) and its CSRF token."""
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    conn.execute(
        web_sessions.insert().values(
            id_hash=hash_token(secret),
            user_id=user_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(days=SESSION_DAYS),
        )
    )
    return secret, csrf


def session_user(conn: sa.Connection, secret: str, now: datetime) -> tuple[User, str] | None:
    """The user of a live session cookie and the session's CSRF token, or ``None``."""
    row = conn.execute(
        sa.select(users, web_sessions.c.csrf_token, web_sessions.c.expires_at)
        .join(web_sessions, web_sessions.c.user_id == users.c.id)
        .where(web_sessions.c.id_hash == hash_token(secret))
    ).first()
    if row is None or row.expires_at <= now:
        return None
    return _user(row), str(row.csrf_token)


def close_session(conn: sa.Connection, secret: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.id_hash == hash_token(secret)))
