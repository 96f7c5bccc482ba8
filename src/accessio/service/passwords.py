"""Passwords for the web app's sign-in: argon2id (argon2-cffi's defaults, RFC 9106's
second recommended profile), never stored or logged in clear."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from accessio.catalog import accounts

_HASHER = PasswordHasher()
MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a sign-in from costing more than it should
# A hash to check against when the user does not exist: the answer takes as long either way.
_DUMMY = _HASHER.hash("accessio: no such user")


def check_new(password: str) -> None:
    """``ValueError`` when a password is too short, too long or blank-edged."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    if password != password.strip():
        raise ValueError("a password may not start or end with spaces")


def set_password(conn: sa.Connection, user_name: str, password: str) -> accounts.User:
    check_new(password)
    user = accounts.get_user(conn, user_name)
    accounts.set_password_hash(conn, user.id, _HASHER.hash(password))
    return user


def verify(conn: sa.Connection, user_name: str, password: str) -> accounts.User | None:
    """The user when the password is theirs, else ``None`` (same cost for unknown users)."""
    found = accounts.password_hash(conn, user_name) if len(password) <= MAX_LENGTH else None
    stored = found[1] if found is not None else None
    try:
        _HASHER.verify(stored or _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if found is None or stored is None:
        return None
    user = found[0]
    if _HASHER.check_needs_rehash(stored):
        accounts.set_password_hash(conn, user.id, _HASHER.hash(password))
    return user
