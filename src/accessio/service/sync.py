"""Cloud-synced folders as users drive them: make a folder follow a prefix, start its
syncs (one at a time per folder), feed it bucket notifications, read a sync's result.

The work itself is :mod:`accessio.jobs.sync`; this module checks who may do what and
keeps the invariants: a synced folder's items come from its prefix only (a spec cannot
be registered into it), and a second start while a sync runs gets the running one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote_plus

import sqlalchemy as sa

from accessio.catalog import folders as folder_store
from accessio.catalog import jobs as job_store
from accessio.catalog.accounts import Role
from accessio.catalog.errors import NotFound
from accessio.catalog.folders import NotSynced, SyncedFolder
from accessio.catalog.schema import folders, jobs
from accessio.errors import AccessioError
from accessio.jobs.lease import hold_lease
from accessio.jobs.sync import SIDECAR_SUFFIX, Listing, run_sync
from accessio.service.access import Principal, scope_of
from accessio.service.app import Accessio, Job
from accessio.service.folders import folder_for
from accessio.storage import ListedObject, ObjectNotFound, Provider, Storage


class EventsUnreadable(AccessioError):
    status = 400
    code = "sync.events_invalid"


def parse_sync_source(value: str) -> tuple[str, str]:
    """``INTEGRATION:PREFIX`` (the CLI's ``--sync``) as (integration, prefix)."""
    name, sep, prefix = value.partition(":")
    if not sep or not name or not prefix:
        raise NotSynced(f"--sync {value!r}: use INTEGRATION:PREFIX, e.g. media:s3://bucket/images/")
    return name, prefix


def refuse_synced(conn: sa.Connection, folder_id: str) -> None:
    """Raise :class:`SyncedFolder` when specs may not register into the folder."""
    found = conn.execute(sa.select(folders.c.path, folders.c.sync_prefix).where(folders.c.id == folder_id)).first()
    if found is not None and found.sync_prefix is not None:
        raise SyncedFolder(
            f"folder {found.path} is synced from {found.sync_prefix}: its items come from there. Put the "
            f"objects under that prefix and run `accessio sync {found.path}`, or register into another folder."
        )


def start(app: Accessio, folder: folder_store.Folder, *, owner_id: str | None = None, holder: str | None = None) -> Job:
    """A new sync of a synced folder, or the one that runs already (one at a time)."""
    if folder.sync_prefix is None or folder.sync_integration_id is None:
        raise NotSynced(f"folder {folder.path} is not synced: create it with a prefix to follow (--sync)")
    try:
        with app.engine.begin() as conn:
            record = job_store.create(
                conn,
                folder_id=folder.id,
                integration_id=folder.sync_integration_id,
                file_name=folder.sync_prefix,
                ignore_errors=True,  # one object that fails does not stop the sync
                skip_duplicate_urls=True,
                upsert_metadata=False,
                units=b"",
                units_total=0,
                owner_id=owner_id,
                lease_holder=holder,
                kind="sync",
            )
        return Job(app, record.id)
    except sa.exc.IntegrityError:
        with app.engine.connect() as conn:
            running = conn.execute(
                sa.select(jobs.c.id).where(
                    jobs.c.folder_id == folder.id, jobs.c.kind == "sync", jobs.c.status == "PENDING"
                )
            ).scalar_one_or_none()
        if running is None:  # it ended between our insert and this read: start again
            return start(app, folder, owner_id=owner_id, holder=holder)
        return Job(app, running)


def start_as(app: Accessio, who: Principal, folder_id: str, *, holder: str | None = None) -> Job:
    """E39: start a sync of a folder the principal may edit (404 when it may not see it)."""
    with app.engine.connect() as conn:
        folder = folder_for(conn, scope_of(conn, who), folder_id, Role.EDITOR).folder
    return start(app, folder, owner_id=who.user_id, holder=holder)


def sync_job_as(app: Accessio, who: Principal, folder_id: str, job_id: str) -> job_store.JobRecord:
    """A sync of a folder the principal may see (404 otherwise, as for a missing one)."""
    with app.engine.connect() as conn:
        folder = folder_for(conn, scope_of(conn, who), folder_id, Role.VIEWER).folder
        try:
            record = job_store.get(conn, job_id)
        except AccessioError:
            record = None
    if record is None or record.folder_id != folder.id or record.kind != "sync":
        raise NotFound("sync job", job_id)
    return record


def sync_result(record: job_store.JobRecord) -> dict[str, Any]:
    """E40's answer (``SyncPrivateDataWithCloudSyncedFolderGetResultResponse``): the listing
    is one scan page, the sync one upload job, its actions the units."""
    counts = job_store.counts(record)
    status = {"DONE": "done", "ERROR": "error", "CANCELLED": "cancelled"}.get(record.status, "pending")
    planned = record.sync_counts is not None
    pending, final = status == "pending", status != "pending"
    return {
        "status": status,
        "scanPagesProcessingPending": 0 if planned or final else 1,
        "scanPagesProcessingDone": 1 if planned else 0,
        "scanPagesProcessingError": 1 if status == "error" and not planned else 0,
        "scanPagesProcessingCancelled": 1 if status == "cancelled" and not planned else 0,
        "uploadJobsPending": 1 if pending else 0,
        "uploadJobsDone": 1 if status == "done" else 0,
        "uploadJobsError": 1 if status == "error" else 0,
        "uploadJobsUnitsPending": counts["pending"],
        "uploadJobsUnitsDone": counts["done"],
        "uploadJobsUnitsError": counts["error"],
        "uploadJobsUnitsCancelled": counts["cancelled"],
    }


# Bucket notifications


def event_urls(
    storage: Storage, prefix: str, lines: Iterable[str | bytes], source: str = "notifications"
) -> list[str]:
    """The object URLs a stream of bucket notifications names (one JSON document per line,
    or plain URLs): S3 event records (also inside SQS or SNS envelopes), Google Cloud
    Storage notifications, Azure Event Grid events. Only URLs under ``prefix`` are kept.
    Errors name ``source`` (a file name, or stdin) and the line."""
    urls: list[str] = []
    for number, line in _numbered(lines, source):
        text = line.strip()
        if not text:
            continue
        if not text.startswith(("{", "[")):
            urls.append(text)
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EventsUnreadable(f"{source}, line {number}: not JSON ({exc.msg}) and not a URL") from exc
        for bucket, key, named in _named(doc):
            url = named if named is not None else storage.url_of_key(prefix, bucket or "", key or "")
            if url is not None:
                urls.append(url)
    return [url for url in dict.fromkeys(urls) if storage.under_prefix(url, prefix)]


def _numbered(lines: Iterable[str | bytes], source: str) -> Iterator[tuple[int, str]]:
    """Each line with its number; lines of bytes are decoded one by one, so that one that
    is not UTF-8 is named."""
    for number, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")  # noqa: PLW2901
            except UnicodeDecodeError as exc:
                raise EventsUnreadable(f"{source}, line {number}: not UTF-8 text ({exc.reason})") from exc
        yield number, line


def _named(doc: Any) -> Iterator[tuple[str | None, str | None, str | None]]:
    """(bucket, key, None) or (None, None, url) for each object a notification names."""
    if isinstance(doc, list):
        for part in doc:
            yield from _named(part)
        return
    if not isinstance(doc, dict):
        return
    for envelope in ("Body", "Message", "body", "message"):  # SQS, SNS
        inner = doc.get(envelope)
        if isinstance(inner, str) and inner.lstrip().startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                yield from _named(json.loads(inner))
            return
    records = doc.get("Records")
    if isinstance(records, list):  # S3: keys are URL-encoded, spaces as "+"
        for record in records:
            s3 = record.get("s3") if isinstance(record, dict) else None
            if isinstance(s3, dict):
                bucket, obj = s3.get("bucket", {}).get("name"), s3.get("object", {}).get("key")
                if isinstance(bucket, str) and isinstance(obj, str):
                    yield bucket, unquote_plus(obj), None
        return
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("url"), str):  # Azure Event Grid
        yield None, None, data["url"]
        return
    if isinstance(doc.get("bucket"), str) and isinstance(doc.get("name"), str):  # GCS
        yield doc["bucket"], doc["name"], None


async def look_up(storage: Storage, urls: list[str]) -> Listing:
    """A partial listing of the named objects as they are now (a notification is a hint:
    the store says what is there), with the sidecars and objects they pair with."""
    wanted: set[str] = set()
    for url in urls:
        base = url[: -len(SIDECAR_SUFFIX)] if url.endswith(SIDECAR_SUFFIX) else url
        wanted.update((base, base + SIDECAR_SUFFIX))
    listing = Listing(complete=False)
    limit = asyncio.Semaphore(32)

    async def head(url: str) -> None:
        async with limit:
            try:
                info, _ = await storage.probe_head(url, 1)
            except ObjectNotFound:
                if not url.endswith(SIDECAR_SUFFIX):
                    listing.gone.add(url)
                return
            listing.add(ListedObject(url, url, info.size, info.etag, None))

    await asyncio.gather(*(head(url) for url in sorted(wanted)))
    return listing


def feed_events(
    app: Accessio, folder: folder_store.Folder, lines: Iterable[str | bytes], source: str = "notifications"
) -> Job:
    """A sync of only the objects that bucket notifications name (no listing); ``source``
    names where the lines come from in errors."""
    if folder.sync_prefix is None or folder.sync_integration_id is None:
        raise NotSynced(f"folder {folder.path} is not synced: create it with a prefix to follow (--sync)")
    storage = app.storage(folder.sync_integration_id)
    if storage.integration.provider is Provider.LOCAL:
        raise EventsUnreadable("local directories send no notifications: run `accessio sync` (it lists)")
    urls = event_urls(storage, folder.sync_prefix, lines, source)
    while True:
        job = start(app, folder)
        if job.record.started_at is None:
            break
        # a sync runs already and may have listed before these changes: ours comes after it
        wait_for(job)
    listing = asyncio.run(look_up(storage, urls))
    with hold_lease(app.engine, job.id, app.holder) as held:
        if held.status not in job_store.FINAL:
            run_sync(app.engine, job.id, storage, prefix=folder.sync_prefix, listing=listing)
    return job


def wait_for(job: Job, poll_s: float = 0.2) -> job_store.JobRecord:
    """The job once it ended (worked by another process meanwhile)."""
    while True:
        record = job.record
        if record.status in job_store.FINAL:
            return record
        time.sleep(poll_s)
