"""URLs the server signs itself: reading an item's object (``/files/{item}``) for
integrations that cannot sign (local disks, plain web servers), and receiving an
upload (``/files/upload/{id}``) into a local upload integration.

A signature is an HMAC-SHA256 of the path and the expiry time under a secret kept in
the catalog (``server_settings``), made on first use: every server process of one
catalog signs and checks alike, and the secret never leaves the catalog.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import quote

import sqlalchemy as sa

from accessio.catalog.schema import server_settings

_SECRET_KEY = "url_signing_secret"


def catalog_secret(engine: sa.Engine) -> bytes:
    """The catalog's URL-signing secret (made, once, by whichever process asks first)."""
    with engine.begin() as conn:
        found = conn.execute(sa.select(server_settings.c.value).where(server_settings.c.key == _SECRET_KEY)).scalar()
        if found is None:
            try:
                with conn.begin_nested():
                    conn.execute(server_settings.insert().values(key=_SECRET_KEY, value=secrets.token_hex(32)))
            except sa.exc.IntegrityError:
                pass  # another process made it first: use theirs
            found = conn.execute(
                sa.select(server_settings.c.value).where(server_settings.c.key == _SECRET_KEY)
            ).scalar_one()
    return bytes.fromhex(found)


class UrlSigner:
    """Signs and checks ``path?expires=...&signature=...``."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, method: str, path: str, expires: int) -> str:
        message = f"{method}\n{path}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, path: str, ttl_s: int, *, method: str = "GET", now: float | None = None) -> str:
        """``path`` with an expiry ``ttl_s`` seconds ahead and its signature."""
        expires = int((now or time.time()) + ttl_s)
        return f"{quote(path)}?expires={expires}&signature={self._mac(method, path, expires)}"

    def valid(self, path: str, expires: str, signature: str, *, method: str = "GET") -> bool:
        """Whether the signature is ours for this path and method and has not expired."""
        if not expires.isdigit() or len(expires) > 12 or int(expires) < time.time():
            return False
        return hmac.compare_digest(self._mac(method, path, int(expires)), signature)
