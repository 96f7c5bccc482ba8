"""Signing in and out, and the Tokens page."""

from __future__ import annotations

import math
from contextlib import suppress
from typing import Any

from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.params import FromPath

from accessio.api.state import ServerDep
from accessio.catalog import accounts
from accessio.catalog.errors import NotFound
from accessio.service.passwords import verify
from accessio.web.render import page
from accessio.web.session import (
    COOKIE,
    VisitorDep,
    forget_session,
    safe_next,
    secure_cookies,
    session_cookie,
)


@get("/login", exclude_from_auth=True)
async def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    target = safe_next(request.query_params.get("next"))
    return page("login.html", visitor=None, next=target, name="", error=None)


@post("/login", status_code=303)
async def login(request: Request[Any, Any, Any], server: ServerDep) -> Response[Any]:
    form = await request.form()
    name, password = str(form.get("name") or "").strip(), str(form.get("password") or "")
    target = safe_next(str(form.get("next") or "/"))
    client = request.client.host if request.client else "unknown"
    wait = max(server.sign_ins.take(f"ip:{client}"), server.sign_ins.take(f"user:{name.lower()}"))
    if wait > 0:
        retry = math.ceil(wait)
        message = f"Too many attempts: try again in {retry} s."
        return page("login.html", status=429, headers={"Retry-After": str(retry)}, visitor=None, next=target,
                    name=name, error=message)  # fmt: skip

    def check() -> str | None:
        with server.app.engine.begin() as conn:
            user = verify(conn, name, password)
            return None if user is None else accounts.open_session(conn, user.id)[0]

    secret = await to_thread.run_sync(check)
    if secret is None:
        return page("login.html", status=401, visitor=None, next=target, name=name, error="Wrong name or password.")
    response: Response[Any] = Response("", status_code=303, headers={"Location": target})
    response.set_cookie(session_cookie(server, request, secret))
    return response


@post("/logout", status_code=303)
async def logout(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[Any]:
    secret = request.cookies.get(COOKIE, "")

    def close() -> None:
        with server.app.engine.begin() as conn:
            accounts.close_session(conn, secret)
        forget_session(secret)

    await to_thread.run_sync(close)
    response: Response[Any] = Response("", status_code=303, headers={"Location": "/login"})
    response.delete_cookie(COOKIE, path="/")
    if secure_cookies(server, request):
        response.headers["Clear-Site-Data"] = '"cookies"'
    return response


def _tokens(server: ServerDep, user_id: str) -> list[accounts.Token]:
    with server.app.engine.connect() as conn:
        return list(reversed(accounts.tokens(conn, user_id)))


@get("/tokens")
async def tokens_page(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    user_id = visitor.principal.user_id or ""
    found = await to_thread.run_sync(_tokens, server, user_id)
    return page("tokens.html", visitor=visitor, section="tokens", tokens=found, created=None)


@post("/tokens", status_code=200)
async def create_token(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    form = await request.form()
    label = str(form.get("label") or "").strip()[:200]
    days_text = str(form.get("expires_days") or "").strip()
    expires = int(days_text) if days_text.isdigit() and 0 < int(days_text) <= 3650 else None
    user_id = visitor.principal.user_id or ""

    def make() -> str:
        with server.app.engine.begin() as conn:
            return accounts.create_token(conn, user_id, label=label, expires_days=expires)[1]

    secret = await to_thread.run_sync(make)
    found = await to_thread.run_sync(_tokens, server, user_id)
    created = {"label": label, "secret": secret}
    return page("tokens.html", visitor=visitor, section="tokens", tokens=found, created=created)


@post("/tokens/{token_id:str}/revoke", status_code=303)
async def revoke_token(
    request: Request[Any, Any, Any], token_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    user_id = visitor.principal.user_id or ""

    def revoke() -> None:
        with server.app.engine.begin() as conn:
            accounts.revoke_token(conn, token_id, user_id=user_id)

    with suppress(NotFound):  # not theirs, or gone: the page shows their tokens as they are
        await to_thread.run_sync(revoke)
    server.auth.forget()
    return Response("", status_code=303, headers={"Location": "/tokens"})

