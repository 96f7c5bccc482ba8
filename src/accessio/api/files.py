"""The server's own signed URLs (no token: the signature authorises):

- ``GET /files/{item}?expires&signature``: an item's object, with Range support
  (``206``), for local and plain-web integrations;
- ``GET /files/{item}/client-metadata?...``: an item's client metadata (E38);
- ``PUT /files/upload/{id}?...``: the bytes of a file uploaded into a local upload integration.

A bad, expired or foreign signature is a 404, as for an item that does not exist.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from litestar import Controller, Request, Response, get, put
from litestar.params import FromPath
from litestar.response import Stream

from accessio.api.errors import TooLarge
from accessio.api.state import ServerDep
from accessio.catalog.errors import NotFound
from accessio.catalog.schema import items, uploads
from accessio.service.files import Download, download, stream_range

_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})$")
_MIME = re.compile(r"[A-Za-z0-9][\w.+-]{0,126}/[A-Za-z0-9][\w.+-]{0,126}")
_BLOCK = 1 << 20


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) of a single-range ``Range`` header; ``None``
    for the whole object (no header, or one this server does not serve partially)."""
    if not header:
        return None
    found = _RANGE.match(header.strip())
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable
        return max(0, size - length), size
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable
    return start, end


async def _local_chunks(path: str, start: int, end: int) -> AsyncIterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            data = await asyncio.to_thread(handle.read, min(_BLOCK, left))
            if not data:
                return
            left -= len(data)
            yield data


def _checked(server: ServerDep, request: Request[Any, Any, Any], path: str, method: str = "GET") -> None:
    query = request.query_params
    if not server.signer.valid(path, query.get("expires", ""), query.get("signature", ""), method=method):
        raise NotFound("file", path.rsplit("/", 1)[-1])


def _row(server: ServerDep, item_id: FromPath[str]) -> Any:
    with server.app.engine.connect() as conn:
        row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
    if row is None:
        raise NotFound("file", item_id)
    return row


async def _size_of(server: ServerDep, source: Download) -> int:
    if source.local_path is not None:
        return await asyncio.to_thread(os.path.getsize, source.local_path)
    if source.size is not None:
        return source.size
    info, _ = await server.app.storage(source.integration_id).probe_head(source.url, 1)
    return info.size


class FileController(Controller):
    path = "/files"
    tags = ["Signed files"]  # noqa: RUF012

    @get("/{item_id:str}")
    async def read(self, request: Request[Any, Any, Any], item_id: FromPath[str], server: ServerDep) -> Response[Any]:
        """An item's object, whole or a byte range."""
        _checked(server, request, f"/files/{item_id}")
        row = await asyncio.to_thread(_row, server, item_id)
        source = await asyncio.to_thread(download, server.app, row)
        size = await _size_of(server, source)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300"}
        content_type = source.mime_type if source.mime_type and _MIME.fullmatch(source.mime_type) else None
        content_type = content_type or "application/octet-stream"
        try:
            wanted = parse_range(request.headers.get("range"), size)
        except RangeNotSatisfiable:
            return Response(b"", status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        start, end = wanted or (0, size)
        status = 206 if wanted else 200
        if wanted:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return Response(b"", status_code=status, headers=headers, media_type=content_type)
        chunks = (
            _local_chunks(source.local_path, start, end)
            if source.local_path is not None
            else stream_range(server.app, source, start, end)
        )
        return Stream(chunks, status_code=status, headers=headers, media_type=content_type)

    @get("/{item_id:str}/client-metadata", sync_to_thread=True)
    def client_metadata(self, request: Request[Any, Any, Any], item_id: FromPath[str], server: ServerDep) -> Any:
        """E38: an item's client metadata, for listings asked for it as signed URLs."""
        _checked(server, request, f"/files/{item_id}/client-metadata")
        return _row(server, item_id).client_metadata or {}

    @put("/upload/{upload_id:str}", status_code=200)
    async def upload(
        self, request: Request[Any, Any, Any], upload_id: FromPath[str], server: ServerDep
    ) -> dict[str, Any]:
        """The bytes of one upload placeholder, into the local upload integration."""
        _checked(server, request, f"/files/upload/{upload_id}", method="PUT")
        target = await asyncio.to_thread(self._target, server, upload_id)
        limit = server.settings.max_upload_bytes
        directory = os.path.dirname(target)
        await asyncio.to_thread(os.makedirs, directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-")
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"an upload may be {limit:,} bytes at most")
                    await asyncio.to_thread(out.write, chunk)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
        return {"size": size}

    @staticmethod
    def _target(server: ServerDep, upload_id: FromPath[str]) -> str:
        with server.app.engine.connect() as conn:
            row = conn.execute(sa.select(uploads).where(uploads.c.id == upload_id)).first()
        if row is None:
            raise NotFound("upload", upload_id)
        return server.app.storage(row.integration_id).local_path(row.object_url)
