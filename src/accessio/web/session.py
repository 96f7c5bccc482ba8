"""Who is browsing: a session cookie (HttpOnly, SameSite=Lax, Secure behind https) to a
principal, a CSRF token on every change, and a rate limit on signing in.

The cookie holds 256 random bits; the catalog keeps their SHA-256 only. Every request
that changes something carries the session's CSRF token: in the ``X-CSRF-Token``
header (htmx requests get it from the page) or in a ``csrf`` form field.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency

from accessio.api.state import Server, server_of
from accessio.catalog import accounts
from accessio.errors import AccessioError
from accessio.service import Principal

COOKIE = "accessio_session"


class SignInNeeded(AccessioError):
    status = 401
    code = "sign_in"


class CsrfRefused(AccessioError):
    status = 403
    code = "csrf"


@dataclass(frozen=True)
class Visitor:
    """A signed-in browser: who, and the session's CSRF token."""

    principal: Principal
    csrf: str


class SessionCache:
    """Sessions checked in the last ``CACHE_S`` seconds, per process (as API tokens are):
    a page costs no catalog read for them. Signing out forgets the session at once in
    this process; other processes of the server within ``CACHE_S``."""

    CACHE_S = 5.0

    def __init__(self) -> None:
        self._found: dict[str, tuple[float, Visitor]] = {}
        self._lock = threading.Lock()

    def get(self, secret: str) -> Visitor | None:
        with self._lock:
            found = self._found.get(secret)
        if found is None or time.monotonic() - found[0] > self.CACHE_S:
            return None
        return found[1]

    def put(self, secret: str, visitor: Visitor) -> None:
        with self._lock:
            if len(self._found) > 100_000:
                self._found.clear()
            self._found[secret] = (time.monotonic(), visitor)

    def forget(self, secret: str) -> None:
        with self._lock:
            self._found.pop(secret, None)


_SESSIONS = SessionCache()


def forget_session(secret: str) -> None:
    _SESSIONS.forget(secret)


def visitor_of(request: Request[Any, Any, Any]) -> Visitor:
    """The signed-in visitor of a request, or :class:`SignInNeeded`."""
    cached = request.scope.get("accessio_visitor")
    if isinstance(cached, Visitor):
        return cached
    secret = request.cookies.get(COOKIE)
    if not secret:
        raise SignInNeeded("sign in first")
    visitor = _SESSIONS.get(secret)
    if visitor is None:
        server = server_of(request.app.state)
        with server.app.engine.connect() as conn:
            found = accounts.session_user(conn, secret, datetime.now(UTC))
        if found is None:
            raise SignInNeeded("your session ended: sign in again")
        user, csrf = found
        visitor = Visitor(Principal(user.id, user.name, user.is_admin), csrf)
        _SESSIONS.put(secret, visitor)
    request.scope["accessio_visitor"] = visitor  # type: ignore[typeddict-unknown-key]
    return visitor


async def checked_visitor(request: Request[Any, Any, Any]) -> Visitor:
    """The visitor, with the CSRF token checked on every request that changes something."""
    visitor = visitor_of(request)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        given = request.headers.get("x-csrf-token")
        if not given:
            form = await request.form()
            value = form.get("csrf")
            given = value if isinstance(value, str) else None
        if not given or not hmac.compare_digest(given, visitor.csrf):
            raise CsrfRefused("this form is stale or was not sent by this site: reload the page and try again")
    return visitor


def secure_cookies(server: Server, request: Request[Any, Any, Any]) -> bool:
    return server.settings.tls_terminated or request.url.scheme == "https"


def session_cookie(server: Server, request: Request[Any, Any, Any], secret: str) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=secret,
        max_age=accounts.SESSION_DAYS * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(server, request),
    )


def sign_in_redirect(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """To the sign-in page (htmx requests: by ``HX-Redirect``), coming back afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login" if request.method != "GET" else f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response("", status_code=200, headers={"HX-Redirect": location})
    return Response("", status_code=303, headers={"Location": location})


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another origin)."""
    # browsers drop tabs and newlines from URLs ("/\t/evil" becomes "//evil"): refuse them
    if not target or not target.isprintable() or any(c in target for c in " \\"):
        return "/"
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


VisitorDep: TypeAlias = NamedDependency[Visitor]
