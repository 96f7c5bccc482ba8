"""Errors as responses: every body is ``{"message": ...}`` (with ``code``, and the
issues of an invalid spec), from the ``status`` and ``code`` of the error's class."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from accessio.catalog.errors import NotFound
from accessio.errors import AccessioError, SpecInvalid
from accessio.search.filter_syntax import FilterError

log = logging.getLogger("accessio.api")

MAX_ISSUES = 1000  # issues of an invalid spec in one answer; ``issueCount`` tells the total


class Unauthenticated(AccessioError):
    status = 401
    code = "unauthenticated"


class RateLimited(AccessioError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests for this token: retry after {retry_after} s")
        self.retry_after = retry_after


class TooLarge(AccessioError):
    status = 413
    code = "too_large"


class NotBuilt(AccessioError):
    status = 501
    code = "not_implemented"


def filter_issues(exc: FilterError) -> list[dict[str, Any]]:
    """A bad filter, sort or cursor as the one issue of an answer (as a spec's issues are shown)."""
    location = exc.option if exc.column is None else f"{exc.option}, column {exc.column}"
    return [{"location": location, "code": exc.code, "message": exc.reason}]


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=body, status_code=status, headers=headers, media_type="application/json")


def accessio_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, AccessioError)
    body: dict[str, Any] = {"message": exc.message, "code": exc.code}
    headers: dict[str, str] = {}
    if isinstance(exc, NotFound):  # the same answer for "missing" and "not yours", echoing nothing
        body["message"] = f"{exc.what} not found"
    if isinstance(exc, SpecInvalid):
        body["issues"] = [
            {"location": i.location, "code": i.code, "message": i.message} for i in exc.issues[:MAX_ISSUES]
        ]
        body["issueCount"] = exc.total
    if isinstance(exc, FilterError):
        body["issues"] = filter_issues(exc)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="accessio"'
    status = exc.status
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return _json(status, body, headers)


def http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Litestar's own errors (bad parameters, unknown routes, bodies too large)."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = exc.detail or "request refused"
    body: dict[str, Any] = {"message": message, "code": "http"}
    if isinstance(exc, ValidationException):
        body["code"] = "invalid"
        extra = exc.extra if isinstance(exc.extra, list) else []
        problems = [f"{e.get('key') or 'body'}: {e.get('message')}" for e in extra if isinstance(e, dict)]
        if problems:
            body["message"] = "; ".join(problems)
        status = 400
    elif status == 413:
        body["code"] = "too_large"
        limit = request.app.state["server"].settings.max_body_bytes
        body["message"] = f"the request body is larger than {limit:,} bytes"
    return _json(status, body, dict(exc.headers or {}))


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _json(500, {"message": "internal error: the server log has the details", "code": "internal"})


def value_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """``ValueError`` from the library is bad input."""
    return _json(400, {"message": str(exc), "code": "invalid"})
