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
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from accessio.catalog import items as item_store
from accessio.catalog import jobs as job_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.jobs import FINAL
from accessio.catalog.metadata_schema import MetadataSchema
from accessio.errors import AccessioError
from accessio.jobs import writer as writing
from accessio.jobs.embeddings import (
    EmbeddingProblem,
    Extracted,
    VideoFacts,
    existing_videos,
    extract,
    needs_extraction,
    video_facts,
)
from accessio.jobs.names import namer
from accessio.jobs.reads import HEAD_ONLY, UnitFailure, failure_of, read_all
from accessio.jobs.sequences import DEFAULT_FPS, SequenceStore, is_sequence, make_videos, strict_failure
from accessio.jobs.units import (
    UnitContext,
    decode_units,
    dedup_keys,
    item_id,
    item_rows,
    member_metadata,
    series_mismatch,
)
from accessio.jobs.units import supplied_metadata as unit_metadata
from accessio.jobs.writer import ChunkWrite, Upsert, open_writer
from accessio.spec import model
from accessio.storage.confine import Admission

CHUNK_UNITS = 50_000  # units per transaction: fewer commits rewrite fewer index pages
CHUNK_READS = 2_000  # objects read per transaction, so that progress is committed often
CHUNK_URLS = 100_000  # objects (item rows) per transaction, for specs of large groups


class Pace(Protocol):
    """How a job shares its machine (a server's :class:`accessio.service.activity.Pacer`)."""

    def chunk_units(self, full: int) -> int: ...

    def pause(self, stop: threading.Event | None = None) -> None: ...


_STRICT_NEEDS = {
    model.Video: "videoMetadata",
    model.Image: "imageMetadata",
    model.ImageGroup: "imageMetadata for every image",
    model.DicomSeries: "dicomMetadata for every file",
}


def _strict_failure(unit: model.Unit) -> UnitFailure | None:
    """strictClientOnly: video, image and DICOM units must bring their media metadata;
    an image sequence cannot be registered at all (its frames must be read to encode it)."""
    if is_sequence(unit):
        return strict_failure()
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


_GROUP_TYPES = frozenset({model.ImageGroup, model.DicomSeries})


def _same_objects(one: model.Unit, other: model.Unit) -> bool:
    """Whether two units register the same objects: one URL, or the same URL list in a group."""
    return (type(one) in _GROUP_TYPES) == (type(other) in _GROUP_TYPES) and one.urls == other.urls


_KIND_OF_UNIT: dict[type, str] = {
    model.Video: "video",
    model.Image: "image",
    model.Audio: "audio",
    model.PlainText: "text",
    model.Pdf: "pdf",
    model.Nifti: "nifti",
}


def _objects_to_read(unit: model.Unit) -> list[tuple[str, str | None]]:
    """The objects of a unit to read, with the kind each is probed as: those without
    supplied metadata (a DICOM file with supplied tags is read only for its size). An
    image sequence's frames are read by its encoding instead."""
    if is_sequence(unit):
        return []
    if isinstance(unit, model.ImageGroup | model.DicomSeries):
        kind = "dicom" if isinstance(unit, model.DicomSeries) else "image"
        return [
            (url, HEAD_ONLY if isinstance(meta, model.DicomMetadata) else kind)
            for url, meta in zip(unit.urls, member_metadata(unit), strict=True)
            if meta is None or isinstance(meta, model.DicomMetadata)
        ]
    return [] if unit_metadata(unit) is not None else [(unit.object_url, _KIND_OF_UNIT[type(unit)])]


def run_job(
    engine: sa.Engine,
    job_id: str,
    source: SequenceStore,
    access_mode: str,
    *,
    progress: Callable[[dict[str, int]], None] | None = None,
    chunk_units: int = CHUNK_UNITS,
    chunk_reads: int = CHUNK_READS,
    units: list[model.Unit] | None = None,
    stop: threading.Event | None = None,
    pace: Pace | None = None,
) -> job_store.JobRecord:
    """Work a job's units from where it stopped until none is left (or it is cancelled,
    or fails, or ``stop`` is set: then it stops at a chunk boundary, still PENDING).

    Two chunks are in hand at a time: while one is written (see :mod:`accessio.jobs.writer`),
    the next is prepared (checked, looked up, its objects read, its rows built). The one
    being prepared sees the items of the one being written through ``recent``, so
    duplicates across the two are still found. ``pace`` (a server's) sizes the chunks and
    rests between them while the server answers requests.
    """
    with engine.begin() as conn:
        job = job_store.get(conn, job_id)
        if job.status in FINAL:
            return job
        job_store.set_status(conn, job_id, "PENDING", started=job.started_at is None)
        # the units as stored, unless the caller holds them already (it just stored them)
        stored = units if units is not None else decode_units(job_store.stored_units(conn, job_id))
    max_reads = 0 if access_mode == "strictClientOnly" else chunk_reads
    totals = Counter(created=job.created, skipped=job.skipped, upserted=job.upserted, error=job.failed)
    stopped_by_error = False
    first = job.next_unit
    recent: dict[int, tuple[str, model.Unit]] = {}
    in_flight: _Chunk | None = None
    with open_writer(engine, _unread_units(stored, first, reads=max_reads > 0)) as writer:
        while True:
            with engine.connect() as conn:
                job = job_store.get(conn, job_id)
            if job.cancel_requested or first >= job.units_total or (stop is not None and stop.is_set()):
                break
            end = chunk_end(stored, first, pace.chunk_units(chunk_units) if pace else chunk_units, max_reads)
            chunk = _prepare_chunk(engine, job, first, stored[first:end], source, access_mode, recent)
            if in_flight is not None:
                try:
                    writer.wait()
                except job_store.ChunkTaken:  # another process works this job: go on from where it is now
                    in_flight, recent = None, {}
                    with engine.connect() as conn:
                        first = job_store.get(conn, job_id).next_unit
                    continue
                totals.update(in_flight.write.outcome)
                if progress is not None:
                    progress(_progress(totals, job.units_total - in_flight.write.end))
                if in_flight.write.outcome["error"] and not job.ignore_errors:
                    in_flight, stopped_by_error = None, True  # the chunk prepared is dropped
                    break
                in_flight = None
                if pace is not None:
                    pace.pause(stop)  # nothing of the job runs now: no transaction is open
                with engine.connect() as conn:
                    if job_store.get(conn, job_id).cancel_requested:
                        break  # cancelled while the chunk was written: the one prepared is dropped
            writer.submit(chunk.write)
            in_flight, recent, first = chunk, chunk.created, end
        if in_flight is not None:
            try:
                writer.wait()
            except job_store.ChunkTaken:
                pass  # whoever took it finishes the job
            else:
                totals.update(in_flight.write.outcome)
                if progress is not None:
                    progress(_progress(totals, job.units_total - in_flight.write.end))
                stopped_by_error = bool(in_flight.write.outcome["error"]) and not job.ignore_errors
    with engine.begin() as conn:
        return job_store.settle(conn, job_id, stopped_by_error=stopped_by_error)


def _unread_units(units: list[model.Unit], first: int, *, reads: bool) -> int:
    """How many units from ``first`` on register without a read, counted up to
    :data:`~accessio.jobs.writer.PROCESS_AT_LEAST`: what decides whether a writer
    process pays for its start (about 1 s of CPU). Writing a row costs a tenth of
    probing an object, so a job that reads its objects is bound by the reads, and its
    writes go faster in the runner's process than a new process starts."""
    if not reads:
        return len(units) - first
    count = 0
    for index in range(first, len(units)):
        unit = units[index]
        grouped = isinstance(unit, model.ImageGroup | model.DicomSeries)
        if not (_objects_to_read(unit) if grouped else unit_metadata(unit) is None):
            count += 1
            if count >= writing.PROCESS_AT_LEAST:
                break
    return count


def prepare_alone(
    engine: sa.Engine,
    job: job_store.JobRecord,
    first: int,
    units: list[model.Unit],
    source: SequenceStore,
    access_mode: str,
) -> ChunkWrite:
    """What the chunk of units ``first``, ``first + 1``, ... of ``job`` writes, prepared with
    no other chunk of the job in hand (a Celery worker's chunk): duplicates in chunks not
    committed yet are found by the write's own check under the folder's lock."""
    return _prepare_chunk(engine, job, first, units, source, access_mode, {}).write


def chunk_end(units: list[model.Unit], first: int, max_units: int, max_reads: int) -> int:
    """Where the chunk starting at ``first`` ends (exclusive): at most ``max_units`` units
    and :data:`CHUNK_URLS` objects, and, when objects are read (``max_reads`` > 0), at
    most that many objects to read, so that a chunk of slow reads commits (and shows
    progress) as often as a chunk of supplied metadata. A chunk holds at least one unit."""
    end = min(len(units), first + max_units)
    urls = reads = 0
    for index in range(first, end):
        unit = units[index]
        if isinstance(unit, model.ImageGroup | model.DicomSeries):
            urls += len(unit.urls)
            if max_reads > 0:
                reads += len(unit.urls) if is_sequence(unit) else len(_objects_to_read(unit))
        else:
            urls += 1
            if max_reads > 0 and unit_metadata(unit) is None:
                reads += 1
        if (urls > CHUNK_URLS or reads > max_reads > 0) and index > first:
            return index
    return end


def _progress(totals: Counter[str], remaining: int) -> dict[str, int]:
    return {
        "pending": remaining,
        "done": totals["created"] + totals["skipped"] + totals["upserted"],
        "error": totals["error"],
        "cancelled": 0,
        "created": totals["created"],
        "skipped": totals["skipped"],
        "upserted": totals["upserted"],
    }


@dataclass
class _Chunk:
    """A chunk prepared: what it writes, and the items it creates by dedup key, with
    their units (for finding duplicates in the next chunk before this one is committed)."""

    write: ChunkWrite
    created: dict[int, tuple[str, model.Unit]]


def _prepare_chunk(
    engine: sa.Engine,
    job: job_store.JobRecord,
    first: int,
    units: list[model.Unit],
    source: SequenceStore,
    access_mode: str,
    recent: dict[int, tuple[str, model.Unit]],
) -> _Chunk:
    """Prepare the units ``first``, ``first + 1``, ... for writing: check them, find
    duplicates (in the folder, in ``recent`` items not committed yet, earlier in the
    chunk), read the objects that need it and build the rows."""
    now = datetime.now(UTC)
    ctx = UnitContext(
        job_id=job.id,
        folder_id=job.folder_id,
        integration_id=job.integration_id,
        now=now,
        dialect=engine.dialect.name,
        name_of=namer(source.integration),
    )
    decoded = list(enumerate(units, first))
    failures: dict[int, UnitFailure] = {}
    admission = source.admission()  # what it learns of directories lasts this chunk
    for index, unit in decoded:
        for url in unit.urls:
            refused = _refusal(admission, url)
            if refused is not None:
                failures[index] = refused
                break
        if index not in failures and access_mode == "strictClientOnly":
            strict = _strict_failure(unit)
            if strict is not None:
                failures[index] = strict

    # With skip_duplicate_urls, a unit already in the folder (or earlier in this job) is
    # not registered again: same URL, or for a group the same URL list.
    duplicate_of: dict[int, str] = {}  # unit -> the item it duplicates, in the folder or ``recent``
    earlier_in_chunk: dict[int, int] = {}  # unit -> the unit of this chunk it duplicates
    fresh: list[tuple[int, model.Unit]] = []  # the units that may become items
    keys: dict[int, int] = {}
    if job.skip_duplicate_urls:
        keys = dedup_keys(decoded)
        with engine.connect() as conn:
            found = item_store.existing(conn, job.folder_id, keys.values())
        first_of: dict[int, int] = {}
        for index, unit in decoded:
            if index in failures:
                continue
            key = keys[index]
            hit = found.get(key)
            # a URL, or a group's key (a sequence's row holds its video's URL)
            if hit is not None and (hit[1] is None or hit[1] == unit.urls[0] or type(unit) in _GROUP_TYPES):
                duplicate_of[index] = hit[0]
                continue
            # Keys are 8 bytes of a SHA-256: a key that matches is confirmed on the URLs.
            held = recent.get(key)
            if held is not None and _same_objects(held[1], unit):
                duplicate_of[index] = held[0]
            elif (earlier := first_of.setdefault(key, index)) != index and _same_objects(units[earlier - first], unit):
                earlier_in_chunk[index] = earlier
            else:
                fresh.append((index, unit))
    else:
        fresh = [(index, unit) for index, unit in decoded if index not in failures]

    to_read: list[tuple[int, str, str | None]] = []
    if access_mode != "strictClientOnly":
        for index, unit in fresh:
            if unit_metadata(unit) is None:  # supplied metadata (the common case) is never read
                to_read.extend((index, url, kind) for url, kind in _objects_to_read(unit))
    read_failures = asyncio.run(read_all(source, to_read, ctx.facts)) if to_read else {}
    failures.update(read_failures)
    for index, unit in fresh:
        if isinstance(unit, model.DicomSeries) and index not in failures:
            mixed = series_mismatch(ctx, unit)
            if mixed is not None:
                failures[index] = UnitFailure(mixed, SERIES_ACTION)
    sequences = [(i, u) for i, u in fresh if i not in failures and isinstance(u, model.ImageGroup) and u.create_video]
    videos, video_failures = make_videos(source, sequences, job.sequence_fps or DEFAULT_FPS, ctx.facts)
    failures.update(video_failures)
    ctx.videos = {index: (video.url, video.columns) for index, video in videos.items()}
    # Client metadata checked against the schema, embeddings taken out (before duplicates
    # within the chunk take the fate of the unit they repeat).
    with engine.connect() as conn:
        schema = schema_store.load(conn)
    stored_metadata: dict[int, Any] = {}
    vectors: list[tuple[str, str, int | None, bytes]] = []
    for index, unit in fresh:
        if index not in failures:
            made = videos.get(index)
            stored = None if made is None else VideoFacts(*(made.columns.get(c) for c in _VIDEO_FACTS))
            taken = _take_embeddings(schema, unit, video_facts(unit, ctx.facts, stored))
            if isinstance(taken, UnitFailure):
                failures[index] = taken
            elif taken is not None:
                if taken.client_metadata is not unit.client_metadata:
                    stored_metadata[index] = taken.client_metadata
                vectors.extend((item_id(job.id, index), *vector) for vector in taken.vectors)
    for index, earlier in earlier_in_chunk.items():
        if earlier in failures:  # the same object(s) as a unit that failed: fails the same way
            failures[index] = failures[earlier]
        else:
            duplicate_of[index] = item_id(job.id, earlier)

    rows: list[tuple[Any, ...]] = []
    created: dict[int, tuple[str, model.Unit]] = {}
    created_count = 0
    for index, unit in fresh:
        if index not in failures:
            created_count += 1
            if index in stored_metadata:
                unit_rows = item_rows(ctx, index, unit, keys.get(index), stored_metadata[index])
            else:
                unit_rows = item_rows(ctx, index, unit, keys.get(index))
            rows.extend(unit_rows)
            if job.skip_duplicate_urls:
                created[keys[index]] = (unit_rows[0][0], unit)
    # per item upserted, its last unit's upsert and vectors: they replace all it had, so
    # of several units of the chunk upserting one item, the last wins
    latest: dict[str, tuple[Upsert, list[tuple[str, str, int | None, bytes]]]] = {}
    upserted = 0
    if job.upsert_metadata:
        stored_videos = existing_videos(engine, schema, duplicate_of, units, first)
        for index, item in list(duplicate_of.items()):
            unit = units[index - first]
            facts = video_facts(unit, ctx.facts, stored_videos.get(item))
            taken = _take_embeddings(schema, unit, facts)
            if isinstance(taken, UnitFailure):
                failures[index] = taken
                del duplicate_of[index]
                continue
            metadata = unit.client_metadata if taken is None else taken.client_metadata
            upserted += 1
            latest.pop(item, None)  # in the order of the last units, as written
            latest[item] = (Upsert(item, metadata, now), [] if taken is None else [(item, *v) for v in taken.vectors])
    upserts = [upsert for upsert, _ in latest.values()]
    upsert_vectors = [vector for _, vectors in latest.values() for vector in vectors]
    errors = [(index, failures[index].error, failures[index].action) for index in sorted(failures)]
    outcome = Counter(
        error=len(errors),
        created=created_count,
        skipped=0 if job.upsert_metadata else len(duplicate_of),
        upserted=upserted,
    )

    write = ChunkWrite(
        job.id, first, first + len(decoded), rows, upserts, errors, dict(outcome), vectors, upsert_vectors,
        folder_id=job.folder_id, skip_duplicate_urls=job.skip_duplicate_urls, upsert_metadata=job.upsert_metadata,
    )  # fmt: skip
    return _Chunk(write, created)


SERIES_ACTION = "Register the files of each series (SeriesInstanceUID) as a dicomSeries unit of its own."
_VIDEO_FACTS = ("fps", "frame_count", "duration")
METADATA_ACTION = "Fix the value in the unit's clientMetadata (or the metadata schema) and re-submit the unit."


def _take_embeddings(
    schema: MetadataSchema, unit: model.Unit, video: VideoFacts | None
) -> Extracted | UnitFailure | None:
    """The unit's client metadata checked and its embeddings taken out (``None``: nothing to do)."""
    if not needs_extraction(schema, unit.client_metadata, video=video is not None):
        return None
    assert unit.client_metadata is not None
    try:
        return extract(schema, unit.client_metadata, video)
    except EmbeddingProblem as exc:
        return UnitFailure(f"item {json.dumps(unit.display_title, ensure_ascii=False)}: {exc.message}", METADATA_ACTION)


def _refusal(admission: Admission, url: str) -> UnitFailure | None:
    """Why ``url`` does not belong to the job's integration, if it does not: checked for
    every unit, read or not (an admission keeps it cheap for URLs that share directories)."""
    try:
        admission.admit(url)
    except AccessioError as exc:
        return failure_of(exc)
    return None
