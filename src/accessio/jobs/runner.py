"""Run a registration job: chunk by chunk, I/O concurrent, each chunk written in one
transaction together with what became of its units.

A crash at any point loses at most the chunk in flight, which was not committed;
``run_job`` on the same job picks up the units still pending. Without
``ignore_errors`` the job stops after the first chunk with a failed unit (units
registered before stay registered; those never worked on are cancelled) and ends
``ERROR``; with it, every unit is tried and the job ends ``DONE``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from accessio.catalog import bulk
from accessio.catalog import items as item_store
from accessio.catalog import jobs as job_store
from accessio.errors import AccessioError
from accessio.jobs.units import (
    ObjectFacts,
    UnitContext,
    decode_units,
    dedup_key,
    item_id,
    item_rows,
    member_metadata,
)
from accessio.jobs.units import supplied_metadata as unit_metadata
from accessio.spec import model
from accessio.spec.extensions import guess_mime_type

FINAL = frozenset({"DONE", "ERROR", "CANCELLED"})
CHUNK = 5000
CONCURRENCY = 32


class ObjectSource(Protocol):
    """What a job needs of storage: where a URL belongs, and one read of an object."""

    def locate(self, url: str) -> Any: ...

    async def probe_head(self, url: str, length: int = 65536) -> tuple[Any, bytes]: ...


@dataclass(frozen=True)
class UnitFailure:
    error: str
    action: str


ACTIONS: dict[str, str] = {
    "url.outside_integration": "Register the object through the integration that holds its URL.",
    "url.not_understood": "Fix the object URL: it must be a URL of the integration's storage.",
    "storage.not_found": "Check that the object exists and that its URL is spelled right.",
    "storage.access_denied": "Give the integration's credentials read access to the object.",
    "storage.address_not_allowed": "Use a URL on a public address, or have an administrator allow private networks.",
    "storage.read_not_allowed": "Supply the media metadata in the spec: this integration may not read objects.",
}
_DEFAULT_ACTION = "Retry the job; if the error persists, check the storage service and the integration's settings."


def failure_of(exc: AccessioError) -> UnitFailure:
    return UnitFailure(exc.message, ACTIONS.get(exc.code, _DEFAULT_ACTION))


_STRICT_NEEDS = {
    model.Video: "videoMetadata",
    model.Image: "imageMetadata",
    model.ImageGroup: "imageMetadata for every image",
    model.DicomSeries: "dicomMetadata for every file",
}


def _strict_failure(unit: model.Unit) -> UnitFailure | None:
    """strictClientOnly: video, image and DICOM units must bring their media metadata."""
    needed = _STRICT_NEEDS.get(type(unit))
    if needed is None:
        return None
    if isinstance(unit, model.ImageGroup | model.DicomSeries):
        missing = any(meta is None for meta in member_metadata(unit))
    else:
        missing = unit_metadata(unit) is None
    if not missing:
        return None
    return UnitFailure(
        f"the integration is strictClientOnly, so Accessio may not read this object; the unit needs {needed}",
        f"Add {needed} to the unit in the spec, or register it through an integration that may read objects.",
    )


def _urls_to_read(unit: model.Unit) -> list[str]:
    if isinstance(unit, model.ImageGroup | model.DicomSeries):
        return [
            url
            for url, meta in zip(unit.urls, member_metadata(unit), strict=True)
            if meta is None or isinstance(meta, model.DicomMetadata)
        ]
    return [] if unit_metadata(unit) is not None else [unit.object_url]


def run_job(
    engine: sa.Engine,
    job_id: str,
    source: ObjectSource,
    access_mode: str,
    *,
    progress: Callable[[dict[str, int]], None] | None = None,
    chunk_size: int = CHUNK,
) -> job_store.JobRecord:
    """Work a job's pending units until none is left (or it is cancelled, or fails)."""
    with engine.begin() as conn:
        job = job_store.get(conn, job_id)
        if job.status in FINAL:
            return job
        job_store.set_status(conn, job_id, "PENDING", started=job.started_at is None)
        counts = job_store.counts(conn, job_id)  # kept up to date from each chunk's results
        stored = decode_units(job_store.stored_units(conn, job_id))
    after = -1
    while True:
        with engine.begin() as conn:
            job = job_store.get(conn, job_id)
            if job.cancel_requested:
                job_store.cancel_pending(conn, job_id)
                job_store.set_status(conn, job_id, "CANCELLED", finished=True)
                break
            pending = job_store.pending_units(conn, job_id, chunk_size, after)
            if not pending:
                counts = job_store.counts(conn, job_id)
                failed = counts["error"] > 0 and not job.ignore_errors
                job_store.set_status(conn, job_id, "ERROR" if failed else "DONE", finished=True)
                break
        after = pending[-1]
        outcome = _work_chunk(engine, job, [(index, stored[index]) for index in pending], source, access_mode)
        counts["pending"] -= len(pending)
        for key, value in outcome.items():
            counts[key] += value
        if progress is not None:
            progress(dict(counts))
        if outcome["error"] and not job.ignore_errors:
            with engine.begin() as conn:
                job_store.cancel_pending(conn, job_id)
                job_store.set_status(conn, job_id, "ERROR", finished=True)
            break
    with engine.connect() as conn:
        return job_store.get(conn, job_id)


def _work_chunk(
    engine: sa.Engine,
    job: job_store.JobRecord,
    decoded: list[tuple[int, model.Unit]],
    source: ObjectSource,
    access_mode: str,
) -> Counter[str]:
    """Register one chunk; what became of its units (done, error, created, skipped, upserted)."""
    now = datetime.now(UTC)
    ctx = UnitContext(
        job_id=job.id, folder_id=job.folder_id, integration_id=job.integration_id, now=now, dialect=engine.dialect.name
    )
    failures: dict[int, UnitFailure] = {}
    accepts = _Membership(source)
    for index, unit in decoded:
        for url in unit.urls:
            refused = accepts.refusal(url)
            if refused is not None:
                failures[index] = refused
                break
        if index not in failures and access_mode == "strictClientOnly":
            strict = _strict_failure(unit)
            if strict is not None:
                failures[index] = strict

    # With skip_duplicate_urls, a unit already in the folder (or earlier in this job) is
    # not registered again: same URL, or for a group the same URL list.
    duplicate_of: dict[int, str] = {}
    keys: dict[int, int] = {}
    if job.skip_duplicate_urls:
        keys = {index: dedup_key(unit) for index, unit in decoded}
        with engine.connect() as conn:
            found = item_store.existing(conn, job.folder_id, keys.values())
        for index, unit in decoded:
            hit = found.get(keys[index])
            if hit is not None and (hit[1] is None or hit[1] == unit.urls[0]):
                duplicate_of[index] = hit[0]
        first_of: dict[tuple[bool, tuple[str, ...]], int] = {}
        for index, unit in decoded:
            if index not in duplicate_of and index not in failures:
                grouped = isinstance(unit, model.ImageGroup | model.DicomSeries)
                earlier = first_of.setdefault((grouped, unit.urls), index)
                if earlier != index:
                    duplicate_of[index] = item_id(job.id, earlier)

    to_read: list[tuple[int, str]] = []
    if access_mode != "strictClientOnly":
        for index, unit in decoded:
            if index not in failures and index not in duplicate_of:
                to_read.extend((index, url) for url in _urls_to_read(unit))
    read_failures = asyncio.run(_read_all(source, to_read, ctx.facts)) if to_read else {}
    failures.update(read_failures)

    rows: list[tuple[Any, ...]] = []
    upserts: list[dict[str, Any]] = []
    results: list[tuple[Any, ...]] = []
    for index, unit in decoded:
        failure = failures.get(index)
        if failure is not None:
            results.append((index, "error", None, None, failure.error, failure.action))
            continue
        existing = duplicate_of.get(index)
        if existing is not None:
            if job.upsert_metadata:
                upserts.append({"item_id": existing, "client_metadata": unit.client_metadata, "updated_at": now})
                results.append((index, "done", "upserted", existing, None, None))
            else:
                results.append((index, "done", "skipped", existing, None, None))
            continue
        rows.extend(item_rows(ctx, index, unit, keys.get(index)))

    with engine.begin() as conn:
        bulk.insert_items(conn, rows)
        item_store.replace_client_metadata(conn, upserts)
        bulk.record_results(conn, job.id, results)  # units that fared otherwise than "created"
        bulk.record_created(conn, job.id, decoded[0][0], decoded[-1][0])  # the rest
    outcome = Counter(status for _, status, _, _, _, _ in results)
    outcome.update(kind for _, _, kind, _, _, _ in results if kind)
    outcome["created"] = len(decoded) - len(results)
    outcome["done"] += outcome["created"]
    return outcome


class _Membership:
    """Which URLs belong to the integration, deciding once per directory: the check
    of a URL depends only on its part before the last ``/`` once its last segment is
    a plain name. Anything unusual gets the full check. Reads check again in full."""

    def __init__(self, source: ObjectSource) -> None:
        self._source = source
        self._accepted: set[str] = set()  # directories whose plain names are all accepted

    def refusal(self, url: str) -> UnitFailure | None:
        directory, _, name = url.rpartition("/")
        plain = directory and name not in ("", ".", "..") and not any(c in name for c in "%?#\\")
        if plain and directory in self._accepted:
            return None
        refused = self._check(url)
        if plain and refused is None:
            self._accepted.add(directory)
        return refused

    def _check(self, url: str) -> UnitFailure | None:
        try:
            self._source.locate(url)
        except AccessioError as exc:
            return failure_of(exc)
        return None


async def _read_all(
    source: ObjectSource, wanted: list[tuple[int, str]], facts: dict[str, ObjectFacts]
) -> dict[int, UnitFailure]:
    """One ranged read per object, many at once: size, content type and ETag."""
    limit = asyncio.Semaphore(CONCURRENCY)
    failures: dict[int, UnitFailure] = {}

    async def read(index: int, url: str) -> None:
        async with limit:
            try:
                info, _ = await source.probe_head(url)
            except AccessioError as exc:
                failures.setdefault(index, failure_of(exc))
                return
            facts[url] = ObjectFacts(file_size=info.size, mime_type=_media_type(info.content_type, url), etag=info.etag)

    await asyncio.gather(*(read(index, url) for index, url in wanted))
    return failures


_GENERIC_TYPES = frozenset({None, "", "application/octet-stream", "binary/octet-stream"})


def _media_type(content_type: str | None, url: str) -> str | None:
    """The store's content type, unless it says nothing (local files, octet-stream
    uploads): then the extension's. Probing the content replaces both."""
    if content_type in _GENERIC_TYPES:
        return guess_mime_type(url) or content_type or None
    return content_type
