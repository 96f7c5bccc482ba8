"""Object bytes through the server: signed read URLs for every item, and uploads.

- **Reading.** Cloud integrations sign through the provider (obstore);
  ``directAccess`` URLs are handed out as they are; local and plain-web objects get
  a URL of the server itself (``/files/{item}``, signed with the catalog's secret),
  which streams the bytes with Range support. A ``strictClientOnly`` integration
  promises that the server never reads its objects, so those items have no server URL.
- **Uploads** (Encord's ``upload_*`` helpers): the operator marks one integration as
  the upload target; each placeholder is an object under ``accessio-uploads/`` in it
  with a signed PUT URL (the provider's, or the server's own for a local disk). A
  job that registers uploaded files may only name placeholders handed to its caller
  for its folder.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from accessio.catalog import integrations as integration_store
from accessio.catalog.accounts import Role
from accessio.catalog.errors import InvalidName, NotFound
from accessio.catalog.schema import integrations, uploads
from accessio.errors import AccessioError
from accessio.service.access import Principal, scope_of
from accessio.service.app import Accessio
from accessio.service.folders import folder_for
from accessio.service.signing import UrlSigner
from accessio.storage import AccessMode
from accessio.storage.urls import Provider

UPLOAD_PREFIX = "accessio-uploads"
UPLOAD_TTL_S = 24 * 3600
_UPLOAD_TYPES = frozenset(
    {"video", "image", "imageGroup", "dicomFile", "audio", "plainText", "pdf", "nifti", "timeseries", "scene"}
)


class NoUploadTarget(AccessioError):
    """No integration is marked as the upload target."""

    status = 400
    code = "upload.no_target"


class UploadRefused(AccessioError):
    status = 400
    code = "upload.refused"


@dataclass(frozen=True)
class Download:
    """Where the bytes of an item's object come from."""

    url: str
    integration_id: str
    local_path: str | None  # a local file, streamed by the server directly
    size: int | None
    mime_type: str | None


def sign_item_url(app: Accessio, signer: UrlSigner, base_url: str, row: Any, ttl_s: int = 3600) -> str | None:
    """A URL that GETs an item's object for ``ttl_s`` seconds, or ``None`` (a group,
    or an object the server may not read)."""
    if row.url is None or row.integration_id is None:
        return None
    record = app.integration_record(row.integration_id)
    provider = Provider(record.provider)
    if record.access_mode == AccessMode.DIRECT_ACCESS.value:
        return str(row.url)
    if provider in (Provider.LOCAL, Provider.HTTP):
        if record.access_mode == AccessMode.STRICT_CLIENT_ONLY.value:
            return None
        return f"{base_url.rstrip('/')}{signer.sign(f'/files/{row.id}', min(ttl_s, record.sign_ttl_s))}"
    return app.storage(record.id).sign(row.url, ttl_s)


def download(app: Accessio, row: Any) -> Download:
    """What ``/files/{item}`` serves for an item row (checked against its integration)."""
    if row.url is None or row.integration_id is None:
        raise NotFound("item", row.id)
    record = app.integration_record(row.integration_id)
    if record.access_mode == AccessMode.STRICT_CLIENT_ONLY.value:
        raise NotFound("item", row.id)
    storage = app.storage(record.id)
    local = storage.local_path(row.url) if record.provider == Provider.LOCAL.value else None
    return Download(row.url, record.id, local, row.file_size, row.mime_type)


async def stream_range(
    app: Accessio, source: Download, start: int, end: int, block: int = 1 << 20
) -> AsyncIterator[bytes]:
    """The bytes ``start`` to ``end - 1`` of a non-local object, a block at a time."""
    storage = app.storage(source.integration_id)
    position = start
    while position < end:
        data = await storage.read_range(source.url, position, min(end, position + block))
        if not data:
            return
        position += len(data)
        yield data


def upload_target(conn: sa.Connection) -> integration_store.IntegrationRecord:
    row = conn.execute(sa.select(integrations.c.id).where(integrations.c.upload_target.is_(sa.true()))).first()
    if row is None:
        raise NoUploadTarget(
            "this server takes no uploads: no integration is marked as the upload target "
            "(an operator runs: accessio integration set NAME --upload-target)"
        )
    return integration_store.get(conn, row.id)


def _object_url(record: integration_store.IntegrationRecord, key: str) -> str:
    root = (record.root or "").strip("/")
    if record.provider == Provider.LOCAL.value:
        return Path(record.root or "/", key).resolve().as_uri()
    bucket_key = f"{root}/{key}" if root else key
    if record.provider == Provider.S3.value:
        return f"s3://{bucket_key}"
    if record.provider == Provider.GCP.value:
        return f"gs://{bucket_key}"
    if record.provider == Provider.S3_COMPATIBLE.value and record.endpoint:
        return f"{record.endpoint.rstrip('/')}/{bucket_key}"
    raise UploadRefused(f"the upload integration {record.name!r} ({record.provider}) cannot take uploads")


def create_uploads(
    app: Accessio, who: Principal, folder_id: str, item_type: str, count: int, *, signer: UrlSigner, base_url: str
) -> list[dict[str, Any]]:
    """``count`` placeholders for files to upload into a folder (its editors): each an
    ``itemUuid``, an ``objectKey`` (the object URL to register) and a ``signedUrl`` to PUT."""
    if item_type not in _UPLOAD_TYPES:
        raise InvalidName(f"itemType {item_type!r} is not one of {', '.join(sorted(_UPLOAD_TYPES))}")
    if not 1 <= count <= 1000:
        raise InvalidName(f"count must be 1 to 1000, not {count}")
    now = datetime.now(UTC)
    with app.engine.begin() as conn:
        folder = folder_for(conn, scope_of(conn, who), folder_id, Role.EDITOR).folder
        record = upload_target(conn)
        storage = app.storage(record.id)
        made: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for _ in range(count):
            upload_id = str(uuid.uuid4())
            object_url = _object_url(record, f"{UPLOAD_PREFIX}/{folder.id}/{upload_id}")
            signed = storage.sign_put(object_url, UPLOAD_TTL_S)
            if signed is None:
                path = signer.sign(f"/files/upload/{upload_id}", UPLOAD_TTL_S, method="PUT")
                signed = f"{base_url.rstrip('/')}{path}"
            headers = {"x-ms-blob-type": "BlockBlob"} if record.provider == Provider.AZURE.value else {}
            made.append({"itemUuid": upload_id, "objectKey": object_url, "signedUrl": signed, "uploadHeaders": headers})
            rows.append(
                {
                    "id": upload_id,
                    "folder_id": folder.id,
                    "user_id": who.user_id,
                    "integration_id": record.id,
                    "item_type": item_type,
                    "object_url": object_url,
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=UPLOAD_TTL_S),
                }
            )
        conn.execute(uploads.insert(), rows)
    return made


def check_uploaded_urls(conn: sa.Connection, who: Principal, folder_id: str, urls: Iterable[str]) -> str:
    """The upload integration's id, once every URL is a placeholder handed to the caller
    for this folder; :class:`UploadRefused` names the first that is not."""
    record = upload_target(conn)
    wanted = list(dict.fromkeys(urls))
    mine: set[str] = set()
    for start in range(0, len(wanted), 500):
        query = sa.select(uploads.c.object_url).where(
            uploads.c.object_url.in_(wanted[start : start + 500]),
            uploads.c.folder_id == folder_id,
            uploads.c.integration_id == record.id,
        )
        if who.user_id is not None:
            query = query.where(uploads.c.user_id == who.user_id)
        mine.update(conn.execute(query).scalars())
    for url in wanted:
        if url not in mine:
            shown = url if len(url) <= 200 else url[:200] + "…"
            raise UploadRefused(
                f"{shown!r} is not a file uploaded into this folder: without integrationHash a job registers "
                "only the objectKey values of upload-signed-urls"
            )
    return record.id
