"""The web app at ``/`` of ``accessio serve``: server-rendered pages (Jinja2) with htmx,
shipped in the package (no CDN, no build step), on the same service layer and access
rules as the API: a page never shows what the API would answer 404 for."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from accessio.catalog.errors import NotFound
from accessio.errors import AccessioError
from accessio.service import Forbidden
from accessio.web import admin_pages, auth_pages, folder_pages, item_pages, job_pages
from accessio.web.render import STATIC, page
from accessio.web.session import CsrfRefused, SignInNeeded, checked_visitor, sign_in_redirect, visitor_of


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors as pages: a folder or item not seen is "not found", as a missing one."""
    assert isinstance(exc, AccessioError)
    status, title, message = exc.status, "Something is wrong", exc.message
    if isinstance(exc, NotFound):
        status, title, message = 404, "Not found", f"This {exc.what} does not exist, or is not shared with you."
    elif isinstance(exc, Forbidden | CsrfRefused):
        title = "Not allowed"
    try:
        visitor = visitor_of(request)
    except SignInNeeded:
        visitor = None
    if request.headers.get("hx-request"):
        return page("partials/check.html", status=status, issues=[], report=None, job=None, error=message,
                    spec_name="")  # fmt: skip
    return page("error.html", status=status, visitor=visitor, section="", title=title, message=message)


HANDLERS = [
    auth_pages.login_page, auth_pages.login, auth_pages.logout, auth_pages.tokens_page, auth_pages.create_token,
    auth_pages.revoke_token, folder_pages.home, folder_pages.folder_page, folder_pages.create_folder,
    folder_pages.rename_folder, folder_pages.sync_folder, folder_pages.move_folder, folder_pages.share_folder,
    folder_pages.delete_folder, folder_pages.item_action, folder_pages.check_import, folder_pages.start_import,
    job_pages.bell, job_pages.job_page, job_pages.failures_csv, job_pages.retry_spec, item_pages.item_page,
    item_pages.save_metadata, item_pages.thumbnail, admin_pages.schema_page, admin_pages.add_key,
    admin_pages.add_options, admin_pages.delete_key, admin_pages.restore_key, admin_pages.integrations_page,
    admin_pages.add_integration, admin_pages.grant, admin_pages.check_integration, admin_pages.map_page,
    admin_pages.map_points,
]  # fmt: skip


def web_handlers() -> list[Any]:
    """The pages (behind a session, except the sign-in page) and their static files."""
    pages = Router(
        "/",
        route_handlers=HANDLERS,
        dependencies={"visitor": Provide(checked_visitor)},
        exception_handlers={SignInNeeded: sign_in_redirect, AccessioError: _error_page},
        include_in_schema=False,
    )
    static = create_static_files_router("/static", directories=[STATIC], include_in_schema=False)
    return [pages, static]
