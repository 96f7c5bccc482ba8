"""Ranged GETs (and webhooks' POSTs) over plain HTTP(S) that cannot be steered into private networks.

Used for the ``http`` provider, for ``directAccess`` URLs, and for object bytes of
integrations with a configured endpoint (``s3Compatible``, ``s3`` or ``azure`` with an
endpoint), which are fetched through a URL signed by obstore. obstore's own HTTP client
resolves host names itself and follows redirects without asking, so it cannot promise
*which* address it connects to; this client can (see :mod:`accessio.storage.addresses`):

* it is httpcore with :class:`~accessio.storage.addresses.GuardedBackend`: every
  connection resolves the host, validates every address, and connects to a validated IP,
  with the original host name kept for TLS and ``Host``;
* redirects are followed here, at most ``max_redirects``, each hop only to ``http(s)``
  and never from ``https`` down to ``http``; each hop's connection is checked the same way,
  and ``check_redirect`` may refuse a hop (an ``http`` integration with a base URL keeps
  every hop under it);
* no proxy from the environment is used (it would hide the address connected to).

The client is synchronous and thread-safe; async callers run it in a thread pool, so one
code path serves ``Storage`` and ``RangedReader`` and no connection is tied to an event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpcore

from accessio.storage.addresses import AddressPolicy, GuardedBackend
from accessio.storage.errors import AccessDenied, ObjectNotFound, StorageError, redact
from accessio.storage.reader import Fetched

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")
_MAX_SKIP = 16 * 1024 * 1024  # bytes we will read past when a server ignores Range
_UNRESERVED = ":/?#[]@!$&'()*+,;=%~"


class WebClient:
    """Guarded ranged GETs (see the module docstring)."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        max_redirects: int = 5,
        timeout_s: float = 30.0,
        check_redirect: Callable[[str, str], None] | None = None,
        backend: GuardedBackend | None = None,
    ) -> None:
        self.policy = policy
        self.check_redirect = check_redirect  # (target, object URL): raises when the hop may not be followed
        self.max_redirects = max_redirects
        self.backend = backend or GuardedBackend(policy)  # (a subclass: webhooks bound a whole exchange)
        self._timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
        self._pool = httpcore.ConnectionPool(
            max_connections=64, keepalive_expiry=30.0, retries=0, network_backend=self.backend
        )

    def close(self) -> None:
        self._pool.close()

    def get_range(self, url: str, start: int, end: int, *, object_url: str | None = None) -> Fetched:
        """Bytes ``start`` to ``end - 1`` of the object at ``url``; errors name ``object_url`` (default ``url``)."""
        shown = object_url or url
        current = _wire_url(url)
        ranged = True
        redirects = 0
        while redirects <= self.max_redirects:
            headers = [(b"Accept-Encoding", b"identity"), (b"User-Agent", b"accessio")]
            headers += [(b"Range", f"bytes={start}-{max(start, end - 1)}".encode())] if ranged else []
            try:
                with self._pool.stream("GET", current, headers=headers, extensions={"timeout": self._timeouts}) as resp:
                    if resp.status in _REDIRECTS:
                        current = _next_hop(current, _header(resp, b"location"), shown)
                        if self.check_redirect is not None:
                            self.check_redirect(current, shown)
                        redirects += 1
                        continue
                    if ranged and resp.status == 416 and start == 0 and _header(resp, b"content-range") is None:
                        ranged = False  # S3 answers a range of an empty object with 416 and no size
                        continue
                    return _answer(resp, shown, start, end)
            except httpcore.TimeoutException as exc:
                raise StorageError(f"{redact(shown)}: the server did not answer in time") from exc
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
                raise StorageError(f"{redact(shown)}: {type(exc).__name__}") from exc
        raise StorageError(f"{redact(shown)}: more than {self.max_redirects} redirects")

    def post(self, url: str, body: bytes, headers: list[tuple[bytes, bytes]], *, keep: int = 1024) -> tuple[int, bytes]:
        """POST ``body`` to ``url`` once, through the same guarded connections; a redirect
        is an answer like any other (never followed). Returns the status and the first
        ``keep`` bytes of the answer."""
        try:
            headers = [(b"User-Agent", b"accessio"), (b"Content-Length", str(len(body)).encode()), *headers]
            wire, extensions = _wire_url(url), {"timeout": self._timeouts}
            with self._pool.stream("POST", wire, headers=headers, content=body, extensions=extensions) as resp:
                data, _ = _read(resp, 0, keep)
                return resp.status, data
        except httpcore.TimeoutException as exc:  # the messages leave the URL out: it may hold a token
            raise StorageError(f"no answer in {self._timeouts['read']:g} s ({type(exc).__name__})") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise StorageError(f"the connection failed ({type(exc).__name__})") from exc


def _wire_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise StorageError(f"{redact(url)} is not an http(s) URL with a host")
    if "@" in parts.netloc:
        raise StorageError(f"{redact(url)} carries a user name or password, which is not sent")
    host = parts.hostname.encode("idna").decode("ascii") if not parts.hostname.isascii() else parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    path = quote(parts.path or "/", safe=_UNRESERVED)
    query = quote(parts.query, safe=_UNRESERVED)
    return urlunsplit((parts.scheme.lower(), netloc, path, query, ""))


def _next_hop(current: str, location: str | None, shown: str) -> str:
    if not location:
        raise StorageError(f"{redact(shown)}: a redirect without a Location")
    target = urljoin(current, location)
    if urlsplit(current).scheme == "https" and urlsplit(target).scheme.lower() == "http":
        raise StorageError(f"{redact(shown)}: a redirect from https down to http is refused")
    return _wire_url(target)


def _header(resp: httpcore.Response, name: bytes) -> str | None:
    for key, value in resp.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _answer(resp: httpcore.Response, shown: str, start: int, end: int) -> Fetched:
    status = resp.status
    if status in (404, 410):
        raise ObjectNotFound(shown)
    if status in (401, 403):
        raise AccessDenied(shown)
    content_type, etag = _header(resp, b"content-type"), _header(resp, b"etag")
    if status == 416:
        match = _CONTENT_RANGE.fullmatch(_header(resp, b"content-range") or "")
        if match is None or match[3] == "*":
            raise StorageError(f"{redact(shown)}: the range {start}-{end - 1} is not satisfiable")
        return Fetched(b"", int(match[3]), content_type, etag)
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(_header(resp, b"content-range") or "")
        if match is None or match[1] is None or int(match[1]) != start:
            raise StorageError(f"{redact(shown)}: the server answered another range than {start}-{end - 1}")
        if match[3] == "*":
            raise StorageError(f"{redact(shown)}: the server did not say how large the object is")
        data, _ = _read(resp, 0, end - start)
        return Fetched(data, int(match[3]), content_type, etag)
    if status == 200:  # the server ignored Range: read what is wanted, then hang up
        if start > _MAX_SKIP:
            raise StorageError(f"{redact(shown)}: the server ignores Range requests")
        data, body_length = _read(resp, start, end - start)
        length = _header(resp, b"content-length")
        if length is not None and length.isdigit():
            return Fetched(data, int(length), content_type, etag)
        if body_length is not None:
            return Fetched(data, body_length, content_type, etag)
        raise StorageError(f"{redact(shown)}: the server did not say how large the object is")
    raise StorageError(f"{redact(shown)}: the server answered HTTP {status}")


def _read(resp: httpcore.Response, skip: int, count: int) -> tuple[bytes, int | None]:
    """``count`` bytes after the first ``skip``, and the body's length if it ended before that.

    A body that is at most ``count`` bytes longer than wanted is drained, so the
    connection can be reused; a longer one is cut off (the connection is then closed).
    """
    chunks: list[bytes] = []
    seen = kept = 0
    for chunk in resp.iter_stream():
        if seen + len(chunk) > skip and kept < count:
            piece = chunk[max(0, skip - seen) :][: count - kept]
            chunks.append(piece)
            kept += len(piece)
        seen += len(chunk)
        if seen > skip + 2 * count:
            return b"".join(chunks), None
    return b"".join(chunks), seen
