"""Encord's registration endpoints: E18-E21 (``shared/encord-api.md`` §4.4, §4.5).

A spec arrives inside a JSON body (``externalFiles`` as the user wrote it, or the
SDK's ``dataItems``). The body is streamed to a temporary file, never held whole in
memory while it arrives; the spec is then read once from the file's memory map.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from accessio.api.encord_wire import (
    DataUnitError,
    ItemWithName,
    Page,
    PostUploadJobParams,
    SyncResult,
    UnitsCancelled,
    UploadLongPollingState,
    UploadSignedUrl,
    UploadSignedUrlsPayload,
)
from accessio.api.errors import TooLarge
from accessio.api.state import Caller, ServerDep
from accessio.catalog import jobs as job_store
from accessio.catalog.errors import InvalidName
from accessio.errors import SpecInvalid
from accessio.service import jobs as job_service
from accessio.service import sync as sync_service
from accessio.service.app import job_json
from accessio.service.files import create_uploads
from accessio.spec import Issue, UploadSpec, parse_spec
from accessio.spec.issues import Code

# SDK-only lists of dataItems that register nothing this server knows (empty: ignored)
_UNSUPPORTED_LISTS = {"timeSeries": "time series", "scenes": "scenes", "imageGroupsFromItems": "groups of items"}


async def stream_to_file(request: Request[Any, Any, Any], limit: int, directory: str | None = None) -> str:
    """The request body, written to a temporary file (413 past ``limit`` bytes)."""
    handle, path = tempfile.mkstemp(prefix="accessio-body-", dir=directory)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the request body is larger than {limit:,} bytes")
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return path


@contextmanager
def mapped(path: str) -> Iterator[bytes | mmap.mmap]:
    """A file's bytes through a memory map (an empty file as ``b""``); the file goes after."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                yield view
    finally:
        os.unlink(path)


def _data_items(raw: bytes) -> bytes:
    """The SDK's structured form without the lists this server has no words for."""
    try:
        lists = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SpecInvalid("dataItems", [Issue("$", Code.SHAPE, f"dataItems is not a JSON object: {exc}")]) from None
    for key, what in _UNSUPPORTED_LISTS.items():
        value = lists.pop(key, None)
        if value is not None and msgspec.json.decode(value) not in ([], None):
            raise SpecInvalid("dataItems", [Issue(key, Code.UNSUPPORTED, f"this server does not register {what}")])
    return msgspec.json.encode(lists)


@dataclass(frozen=True)
class Envelope:
    """E18's flags, and the spec it carries parsed as ``spec validate`` would."""

    spec: UploadSpec
    integration: str | None
    ignore_errors: bool
    file_name: str | None


def read_envelope(body: bytes | mmap.mmap) -> Envelope:
    """Read E18's body. The spec's bytes are copied out of ``body`` (a memory map that
    closes after this: nothing may keep a view into it)."""
    try:
        envelope = msgspec.json.decode(body, type=PostUploadJobParams)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidName(f"the body is not a data-upload job: {exc}") from None
    external, items = bytes(envelope.externalFiles), bytes(envelope.dataItems)
    flags = (envelope.integrationHash, envelope.ignoreErrors, envelope.fileName)
    del envelope
    if external and items:
        raise InvalidName("send externalFiles or dataItems, not both")
    if external:
        spec = parse_spec(external, name=flags[2] or "externalFiles", format="json")
    elif items:
        spec = parse_spec(_data_items(items), name="dataItems", format="json")
    else:
        raise InvalidName("the body needs externalFiles (an upload spec) or dataItems")
    return Envelope(spec, *flags)


def long_poll_state(server: ServerDep, record: job_store.JobRecord) -> UploadLongPollingState:
    with server.app.engine.connect() as conn:
        shown = job_json(conn, record, max_errors=1000)
    counts = shown["counts"]
    named = job_service.items_with_names(server.app, record.id) if record.status in job_store.FINAL else []
    errors = [DataUnitError(**e) for e in shown["unitErrors"]]
    return UploadLongPollingState(
        status=record.status,
        itemsWithNames=[ItemWithName(item_id, name) for item_id, name in named],
        errors=[f"{', '.join(e.objectUrls)}: {e.error}" for e in errors],
        unitsPendingCount=counts["pending"],
        unitsDoneCount=counts["done"],
        unitsErrorCount=counts["error"],
        unitsCancelledCount=counts["cancelled"],
        unitErrors=errors,
        fileName=record.file_name,
    )


class JobController(Controller):
    path = "/v2/public/storage/folders/{folder_id:str}"
    tags = ["Encord: registration"]  # noqa: RUF012

    @post(
        "/data-upload-jobs",
        status_code=200,
        description="E18: start registering a spec; answers the job's id as a bare JSON string.",
    )
    async def start(
        self,
        request: Request[Any, Any, Any],
        folder_id: FromPath[str],
        server: ServerDep,
        principal: Caller,
    ) -> Response[bytes]:
        """E18. The body (``externalFiles`` or ``dataItems``, ``integrationHash``,
        ``ignoreErrors``, ``fileName``) is read as a stream."""
        path = await stream_to_file(request, server.settings.max_body_bytes)

        def store() -> job_store.JobRecord:
            with mapped(path) as body:
                envelope = read_envelope(body)
            job = job_service.submit(
                server.app,
                principal,
                folder_id,
                envelope.spec,
                integration=envelope.integration,
                ignore_errors=envelope.ignore_errors,
                file_name=envelope.file_name,
                lease_holder=server.executor.holder,
            )
            return job.record

        record = await asyncio.to_thread(store)
        server.executor.submit(record.id, record.units_total)
        return Response(msgspec.json.encode(record.id), media_type="application/json")  # a bare JSON string

    @get("/data-upload-jobs/{job_id:str}")
    async def poll(
        self,
        folder_id: FromPath[str],
        job_id: FromPath[str],
        server: ServerDep,
        principal: Caller,
        timeout_seconds: Annotated[int, QueryParameter(name="timeoutSeconds", ge=0)] = 0,
    ) -> UploadLongPollingState:
        """E19, a long-poll: answers when the job ends, or after min(timeoutSeconds, 60 s)."""
        await asyncio.to_thread(job_service.get_job, server.app, principal, job_id, folder_id=folder_id)
        wait = min(float(timeout_seconds), server.settings.long_poll_max_s)
        record = await server.executor.wait(job_id, wait)
        return await asyncio.to_thread(long_poll_state, server, record)

    @post(
        "/cloud-synced-folder-syncs",
        status_code=200,
        description="E39: start a sync of a cloud-synced folder; answers the sync's id as a bare JSON string.",
    )
    async def start_sync(self, folder_id: FromPath[str], server: ServerDep, principal: Caller) -> Response[bytes]:
        """E39: a new sync, or the one that runs already (one sync of a folder at a time);
        400 when the folder is not synced."""
        job = await asyncio.to_thread(
            sync_service.start_as, server.app, principal, folder_id, holder=server.executor.holder
        )
        server.executor.submit(job.id, 0)
        return Response(msgspec.json.encode(job.id), media_type="application/json")  # a bare JSON string

    @get("/cloud-linked-folder-syncs/{job_id:str}/long-polling")
    async def poll_sync(
        self,
        folder_id: FromPath[str],
        job_id: FromPath[str],
        server: ServerDep,
        principal: Caller,
        timeout_seconds: Annotated[int, QueryParameter(name="timeoutSeconds", ge=0)] = 0,
    ) -> SyncResult:
        """E40, a long-poll: answers when the sync ends, or after min(timeoutSeconds, 60 s)."""
        await asyncio.to_thread(sync_service.sync_job_as, server.app, principal, folder_id, job_id)
        record = await server.executor.wait(job_id, min(float(timeout_seconds), server.settings.long_poll_max_s))
        return SyncResult(**sync_service.sync_result(record))

    @post("/data-upload-jobs/{job_id:str}/cancel", status_code=200, sync_to_thread=True)
    def cancel(
        self, folder_id: FromPath[str], job_id: FromPath[str], server: ServerDep, principal: Caller
    ) -> UnitsCancelled:
        """E20: units not worked yet are cancelled; registered ones stay."""
        cancelled = job_service.cancel(server.app, principal, job_id, folder_id=folder_id)
        server.executor.notify(job_id)
        return UnitsCancelled(unitsCancelledCount=cancelled)

    @post("/upload-signed-urls", status_code=200, sync_to_thread=True)
    def upload_urls(
        self,
        request: Request[Any, Any, Any],
        folder_id: FromPath[str],
        data: JSONBody[UploadSignedUrlsPayload],
        server: ServerDep,
        principal: Caller,
    ) -> Page:
        """E21: ``count`` signed PUT URLs into the operator's upload integration."""
        made = create_uploads(
            server.app,
            principal,
            folder_id,
            data.itemType,
            data.count,
            signer=server.signer,
            base_url=server.base_url(request),
        )
        return Page([UploadSignedUrl(**entry) for entry in made], None)
