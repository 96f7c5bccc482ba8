"""Pages: Jinja2 templates shipped in the package, every value escaped, and the
security headers every page carries (a Content-Security-Policy without inline scripts)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Response

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# No inline script or style may run: every script is a file of /static. Media may come
# from the object stores signed URLs point at (any https or http origin).
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https: http:",
        "media-src 'self' blob: https: http:",
        "frame-src 'self' https: http:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _filesize(value: Any) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(value)


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str):
        return value[:16].replace("T", " ") + " UTC"
    return ""


def _compact(value: Any) -> str:
    """A JSON value as one line (for client metadata values in forms)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.filters["filesize"] = _filesize
ENVIRONMENT.filters["when"] = _when
ENVIRONMENT.filters["compact"] = _compact


def page(template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response[str]:
    """A template rendered into an HTML response with the security headers."""
    html = ENVIRONMENT.get_template(template).render(**context)
    return Response(html, status_code=status, media_type="text/html", headers={**SECURITY_HEADERS, **(headers or {})})
