"""A synced folder's sync: its prefix listed, compared with what the last syncs saw, and
only the differences written.

A sync is a job of kind ``sync`` worked in two steps:

1. **Plan.** The prefix is listed through the folder's integration (or, fed by bucket
   notifications, only the objects they name are looked at) and compared with the
   folder's ``synced_objects`` rows, which hold what the syncs saw of each object: its
   version (size and ETag; size and modification time for local files) and its sidecar's.
   The differences become the job's actions, stored with it in one transaction:

   - ``move``: an object gone and one new with the same version in the same sync: the
     item keeps its id, metadata and embeddings under the new URL (pairs in URL order);
   - ``delete``: an object gone: its item becomes a tombstone (kept, hidden from listings);
   - ``change``: a new version: the object is probed again; client metadata and
     embeddings stay (a changed sidecar replaces them);
   - ``metadata``: only its sidecar (``NAME.metadata.json`` beside ``NAME``) changed;
   - ``restore``: an object back where a tombstone's was: probed, the item alive again;
   - ``add``: a new object: its type from its content, probed, its sidecar as its client
     metadata (checked against the schema, embeddings taken out);
   - ``forget``: an object that was not media is gone.

   An unchanged prefix plans nothing, and the sync writes nothing but its job row.
2. **Work.** The actions are worked in order, a chunk per transaction that also moves the
   job's progress mark (as a registration's units are), so a sync that is killed resumes
   where it stopped and a chunk retried writes the same rows (an added item's id derives
   from the job and the action's position). Objects are read many at once.

Objects that are not media (or DICOM files, which register as series through a spec)
are remembered as ``skipped`` and not read again until they change. One sync of a
folder runs at a time (a unique index on the catalog's jobs).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import zlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa

from accessio.catalog import bulk
from accessio.catalog import embeddings as embedding_store
from accessio.catalog import jobs as job_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.folders import NotSynced
from accessio.catalog.items import url_key
from accessio.catalog.jobs import FINAL
from accessio.catalog.schema import folders, items, jobs, synced_objects
from accessio.errors import AccessioError
from accessio.jobs.embeddings import EmbeddingProblem, VideoFacts, extract, needs_extraction
from accessio.jobs.names import namer
from accessio.jobs.reads import CONCURRENCY, DEFAULT_ACTION, UnitFailure, columns_of, failure_of, queue_workers
from accessio.jobs.report import CSV_COLUMNS, spreadsheet_safe
from accessio.jobs.units import ObjectFacts, UnitContext, item_id, item_rows
from accessio.probe import Kind, MediaInfo, block_size_for, kind_of_mime, probe_content
from accessio.spec import model
from accessio.spec.extensions import guess_mime_type
from accessio.storage import ListedObject, Provider, Storage, local

SIDECAR_SUFFIX = ".metadata.json"
SIDECAR_MAX_BYTES = 1 << 20  # a sidecar is client metadata: the same bound as an item's
CHUNK_ACTIONS = 5_000  # actions per transaction (reads: CHUNK_READS)
CHUNK_READS = 1_000  # objects read per transaction, so that progress shows often
ORDER = ("move", "delete", "change", "metadata", "restore", "add", "forget")
COUNTERS = ("listed", "unchanged", "sidecars", "skipped", *ORDER)

# Probed kinds and the item type (and spec unit) each becomes; DICOM files are not synced.
_UNIT_OF: dict[Kind, type[model.SingleUnit]] = {
    Kind.IMAGE: model.Image,
    Kind.VIDEO: model.Video,
    Kind.AUDIO: model.Audio,
    Kind.TEXT: model.PlainText,
    Kind.PDF: model.Pdf,
    Kind.NIFTI: model.Nifti,
}
_ITEM_TYPE: dict[Kind, model.ItemType] = {
    Kind.IMAGE: model.ItemType.IMAGE,
    Kind.VIDEO: model.ItemType.VIDEO,
    Kind.AUDIO: model.ItemType.AUDIO,
    Kind.TEXT: model.ItemType.PLAIN_TEXT,
    Kind.PDF: model.ItemType.PDF,
    Kind.NIFTI: model.ItemType.NIFTI,
}
_ENCODER = msgspec.json.Encoder()


class Action(msgspec.Struct, array_like=True, omit_defaults=True):
    """One difference a sync writes (see the module docstring)."""

    op: str
    url: str
    version: str = ""
    sidecar_url: str | None = None  # the sidecar to read (add, change, metadata, restore)
    sidecar: str | None = None  # the sidecar's version as listed (None: there is none)
    item_id: str | None = None  # the item it changes (every op but add and forget)
    old_url: str | None = None  # move: where the object was


_PLAN = msgspec.json.Decoder(list[Action])


def encode_plan(actions: list[Action]) -> bytes:
    return zlib.compress(_ENCODER.encode(actions), 1)


def decode_plan(blob: bytes) -> list[Action]:
    return _PLAN.decode(zlib.decompress(blob)) if blob else []


class SyncHasNoSpec(AccessioError):
    """A sync's failures are not a spec: the next sync tries them again."""

    status = 400
    code = "sync.no_spec"


def failed_urls(action: Action) -> list[str]:
    """The objects a failed action names: the object, and its sidecar when it has one."""
    return [action.url] if action.sidecar_url is None else [action.url, action.sidecar_url]


def sync_failures_csv(failed: Iterable[job_store.UnitError], actions: list[Action]) -> str:
    """The failure report of a sync: one row per failed object (``report.CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in failed:
        action = actions[row.unit_index]
        cells = (action.url, action.url.rsplit("/", 1)[-1], "", row.error, row.action)
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()


def check_source(storage: Storage, prefix: str) -> str:
    """The prefix a folder may follow through ``storage`` (it must be inside the
    integration, and listable: not ``http``, not ``strictClientOnly``)."""
    prefix = prefix.strip()
    if not prefix:
        raise NotSynced("a synced folder needs a prefix URL to follow, e.g. s3://bucket/images/")
    storage.list(prefix)  # raises the refusals; nothing is listed yet
    return prefix


def version_of(obj: ListedObject) -> str:
    """What says an object changed: its size and ETag, or without an ETag its size and
    modification time (a rename keeps both, so a moved file is still found)."""
    if obj.etag:
        return f"{obj.size}:{obj.etag.strip(chr(34))}"
    moment = obj.last_modified
    return f"{obj.size}:t" if moment is None else local_version(obj.size, int(moment.timestamp() * 1e9))


def local_version(size: int, mtime_ns: int) -> str:
    """A local file's version: its size and modification time in microseconds."""
    return f"{size}:t{mtime_ns // 1000}"


@dataclass(repr=False)
class Listing:
    """What a listing (or a batch of notifications) found: each object's version by URL,
    and each sidecar's URL and version by the URL of the object it describes.

    Its ``repr`` is short: ``asyncio.run`` of Python 3.11 formats the repr of the task's
    result at the end (signal handler restoration), which for 20,000 objects cost 0.2 s."""

    objects: dict[str, str] = field(default_factory=dict)
    sidecars: dict[str, tuple[str, str]] = field(default_factory=dict)
    listed: int = 0
    gone: set[str] = field(default_factory=set)  # notifications: URLs found missing (only these may be deleted)
    complete: bool = True  # a whole prefix (objects not in it are gone), not a batch of notifications

    def __repr__(self) -> str:
        return f"Listing({self.listed} listed, {len(self.objects)} objects, {len(self.sidecars)} sidecars)"

    def add(self, obj: ListedObject) -> None:
        if obj.key.endswith("/"):
            self.listed += 1
            return  # a folder marker
        self.add_version(obj.url, version_of(obj))

    def add_version(self, url: str, version: str) -> None:
        self.listed += 1
        if url.endswith(SIDECAR_SUFFIX):
            self.sidecars[url[: -len(SIDECAR_SUFFIX)]] = (url, version)
        else:
            self.objects[url] = version


async def list_prefix(storage: Storage, prefix: str) -> Listing:
    listing = Listing()
    objects: AsyncIterator[ListedObject] = storage.list(prefix)
    async for obj in objects:
        listing.add(obj)
    return listing


def listing_of(storage: Storage, prefix: str) -> Listing:
    """Everything under the prefix: a local directory walked in this thread, a bucket listed."""
    if storage.integration.provider is not Provider.LOCAL:
        return asyncio.run(list_prefix(storage, prefix))
    listing = Listing()
    objects, sidecars, suffix = listing.objects, listing.sidecars, SIDECAR_SUFFIX
    for url, size, mtime_ns in storage.walk(prefix):  # Listing.add_version, inlined: 100,000 files a sync
        version = local_version(size, mtime_ns)
        if url.endswith(suffix):
            sidecars[url[: -len(suffix)]] = (url, version)
        else:
            objects[url] = version
    listing.listed = len(objects) + len(sidecars)
    return listing


class _Seen(NamedTuple):
    """What the syncs saw of one object (a ``synced_objects`` row)."""

    url: str
    version: str
    sidecar: str | None
    item_id: str | None
    state: str


def _known(conn: sa.Connection, folder_id: str, urls: Iterable[str] | None) -> dict[str, _Seen]:
    """What the syncs saw of the folder's objects (of ``urls`` only, when given), by URL,
    read whole and kept as plain tuples (a re-sync of 100,000 objects reads as many)."""
    columns = (synced_objects.c.url, synced_objects.c.version, synced_objects.c.sidecar, synced_objects.c.item_id,
               synced_objects.c.state)  # fmt: skip
    query = sa.select(*columns).where(synced_objects.c.folder_id == folder_id)
    if urls is None:
        return {row[0]: _Seen._make(row) for row in conn.execute(query)}
    keys = sorted({url_key(url) for url in urls})
    found: dict[str, _Seen] = {}
    for start in range(0, len(keys), 900):
        rows = conn.execute(query.where(synced_objects.c.url_key.in_(keys[start : start + 900])))
        found.update((row[0], _Seen._make(row)) for row in rows)
    return found


def listed_and_known(
    engine: sa.Engine, storage: Storage, prefix: str, folder_id: str
) -> tuple[Listing, dict[str, _Seen]]:
    """The prefix listed, and what the syncs saw of the folder, read at once: the catalog
    is read on a thread of its own while the prefix is listed (both mostly wait, on the
    disk or the network). Only the folder's sync writes what the syncs saw, so reading
    it before the listing ends reads the same rows."""

    def read() -> dict[str, _Seen]:
        with engine.connect() as conn:
            return _known(conn, folder_id, None)

    with ThreadPoolExecutor(1, thread_name_prefix="accessio-sync-known") as pool:
        known = pool.submit(read)
        listing = listing_of(storage, prefix)
        return listing, known.result()


def plan(
    conn: sa.Connection, folder_id: str, listing: Listing, known: dict[str, _Seen] | None = None
) -> tuple[list[Action], Counter[str]]:
    """The actions that bring the folder to what ``listing`` holds (module docstring), in
    the order of ``ORDER`` and by URL within each operation. ``known``: what the syncs saw
    of the folder, when read already (:func:`listed_and_known`).

    Most objects of a re-sync are unchanged: each costs a look-up and three comparisons
    (nothing is sorted but the differences)."""
    if known is None:
        named = None if listing.complete else [*listing.objects, *listing.gone, *listing.sidecars]
        known = _known(conn, folder_id, named)
    actions: list[Action] = []
    new: list[tuple[str, str, str | None, str | None]] = []  # url, version, sidecar url and version
    unchanged = 0
    sidecars, no_sidecar, pop = listing.sidecars, (None, None), known.pop
    for url, version in listing.objects.items():
        seen = pop(url, None)
        side_url, side_version = sidecars.get(url, no_sidecar)
        if seen is None:
            new.append((url, version, side_url, side_version))
        elif seen.version == version and seen.state != "gone" and seen.sidecar == side_version:
            unchanged += 1  # an item (or a skipped object) as the last sync saw it
        elif seen.state == "skipped":
            if seen.version == version:
                unchanged += 1
            else:
                new.append((url, version, side_url, side_version))
        elif seen.state == "gone":
            op = "restore" if seen.item_id else "add"
            actions.append(Action(op, url, version, side_url, side_version, seen.item_id))
        elif seen.version != version:
            actions.append(Action("change", url, version, side_url, side_version, seen.item_id))
        else:
            actions.append(Action("metadata", url, version, side_url, side_version, seen.item_id))
    # what the syncs saw and the listing no longer holds
    gone_by_version: dict[str, deque[_Seen]] = {}
    missing = known.values() if listing.complete else [known[url] for url in listing.gone if url in known]
    for seen in sorted(missing):
        if seen.state == "item":
            gone_by_version.setdefault(seen.version, deque()).append(seen)
        elif seen.state == "skipped":
            actions.append(Action("forget", seen.url))
    for url, version, side_url, side_version in sorted(new):
        candidates = gone_by_version.get(version)
        if candidates:
            was = candidates.popleft()
            actions.append(Action("move", url, version, side_url, side_version, was.item_id, was.url))
            if side_version != was.sidecar:
                actions.append(Action("metadata", url, version, side_url, side_version, was.item_id))
        else:
            actions.append(Action("add", url, version, side_url, side_version))
    for candidates in gone_by_version.values():
        actions.extend(Action("delete", seen.url, seen.version, item_id=seen.item_id) for seen in candidates)
    rank = {op: position for position, op in enumerate(ORDER)}
    actions.sort(key=lambda action: (rank[action.op], action.url))
    counts: Counter[str] = Counter(listed=listing.listed, sidecars=len(listing.sidecars))
    if unchanged:
        counts["unchanged"] = unchanged
    counts.update(action.op for action in actions)
    return actions, counts


# Working the plan


@dataclass
class _Read:
    """What the reads of one action found."""

    info: MediaInfo | None = None  # None: not media (or not read)
    etag: str | None = None
    metadata: Any = None
    has_metadata: bool = False
    failure: UnitFailure | None = None


def _reads_object(action: Action) -> bool:
    return action.op in ("add", "change", "restore")


def _reads_sidecar(action: Action) -> bool:
    return action.sidecar_url is not None and action.op in ("add", "change", "restore", "metadata")


def _read_sidecar(storage: Storage, url: str, *, cached_only: bool = False) -> Any:
    with storage.reader(url, block_size=65536, cached_only=cached_only) as reader:
        data = reader.read(SIDECAR_MAX_BYTES + 1)
    if len(data) > SIDECAR_MAX_BYTES:
        raise _SidecarProblem(f"sidecar {url}: larger than {SIDECAR_MAX_BYTES:,} bytes")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _SidecarProblem(f"sidecar {url}: not a JSON document ({exc})") from exc
    if not isinstance(value, dict):
        raise _SidecarProblem(
            f"sidecar {url}: a JSON object of client metadata is expected, not {type(value).__name__}"
        )
    return value


class _SidecarProblem(Exception):
    pass


SIDECAR_ACTION = (
    "Fix the sidecar file (a JSON object of client metadata that the metadata schema accepts), then sync again."
)


def _read_one(storage: Storage, action: Action, *, cached_only: bool = False) -> _Read:
    """What an action reads. ``cached_only``: a local file not in the page cache raises
    :class:`~accessio.storage.local.NotCached` (see :func:`read_actions`)."""
    read = _Read()
    try:
        if _reads_object(action):
            hint = guess_mime_type(action.url)  # the name only sizes the first read
            kind = kind_of_mime(hint) if hint else None
            block = block_size_for(kind or Kind.VIDEO)
            with storage.reader(action.url, block_size=block, cached_only=cached_only) as reader:
                read.info = probe_content(reader, url=action.url)
                read.etag = reader.etag
        if _reads_sidecar(action) and (read.info is not None or action.op == "metadata"):
            assert action.sidecar_url is not None
            read.metadata = _read_sidecar(storage, action.sidecar_url, cached_only=cached_only)
            read.has_metadata = True
    except local.NotCached:
        raise
    except AccessioError as exc:
        read.failure = failure_of(exc)
    except _SidecarProblem as exc:
        read.failure = UnitFailure(str(exc), SIDECAR_ACTION)
    except Exception as exc:  # a fault of ours: the action fails, the sync goes on
        read.failure = UnitFailure(f"reading the object failed: {type(exc).__name__}", DEFAULT_ACTION)
    return read


def read_actions(storage: Storage, actions: list[Action]) -> list[_Read]:
    """The reads of each action (none for moves, deletes and forgets), many at once:
    local files on one thread while the page cache holds them, the others on a pool
    (32 threads probing cached files contend for the interpreter; see ``jobs.reads``)."""
    results = [_Read() for _ in actions]
    wanted = deque(i for i, action in enumerate(actions) if _reads_object(action) or _reads_sidecar(action))
    cached_first = len(wanted) > 1 and storage.integration.provider is Provider.LOCAL and local.TELLS_CACHED

    def read(index: int, cached_only: bool) -> None:
        results[index] = _read_one(storage, actions[index], cached_only=cached_only)

    workers = min(CONCURRENCY, len(wanted))
    threads = queue_workers(wanted, read, cached_first=cached_first, workers=workers, name="accessio-sync")
    if threads:
        with ThreadPoolExecutor(len(threads), thread_name_prefix="accessio-sync") as pool:
            for future in [pool.submit(run) for run in threads]:
                future.result()
    return results


@dataclass
class _Writes:
    """What one chunk of actions writes, in one transaction."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)  # new items
    vectors: list[tuple[str, str, int | None, bytes]] = field(default_factory=list)
    reprobed: list[dict[str, Any]] = field(default_factory=list)  # item updates: media columns (and more)
    metadata: list[dict[str, Any]] = field(default_factory=list)  # client metadata replaced
    metadata_vectors: list[tuple[str, str, int | None, bytes]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)  # synced_objects rows to delete (URLs)
    seen: list[dict[str, Any]] = field(default_factory=list)  # synced_objects rows to put
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def _metadata_of(
    schema: schema_store.MetadataSchema, metadata: Any, video: VideoFacts | None
) -> tuple[Any, list[tuple[str, int | None, bytes]]]:
    """Client metadata as kept, and its vectors (``video``: a video's facts, for frame
    embeddings); raises EmbeddingProblem."""
    if not needs_extraction(schema, metadata, video=video is not None):
        return metadata, []
    taken = extract(schema, metadata, video)
    return taken.client_metadata, list(taken.vectors)


def _video_of(info: MediaInfo) -> VideoFacts | None:
    return VideoFacts(info.fps, info.frame_count, info.duration) if info.kind is Kind.VIDEO else None


def _prepare(
    conn: sa.Connection,
    job: job_store.JobRecord,
    first: int,
    actions: list[Action],
    reads: list[_Read],
    name_of: Callable[[str], str],
) -> _Writes:
    out = _Writes()
    schema = schema_store.load(conn)
    now = datetime.now(UTC)
    ctx = UnitContext(job.id, job.folder_id, job.integration_id, now, conn.dialect.name, name_of=name_of)

    def replace_metadata(item: str, metadata: Any, video: VideoFacts | None) -> None:
        """A sidecar's metadata replaces the item's (and its embeddings)."""
        kept, vectors = _metadata_of(schema, metadata, video)
        out.metadata.append({"item_id": item, "client_metadata": kept, "updated_at": now})
        out.metadata_vectors.extend((item, *vector) for vector in vectors)

    def seen(action: Action, state: str, item: str | None, sidecar: str | None) -> None:
        out.seen.append({"folder_id": job.folder_id, "url_key": url_key(action.url), "url": action.url,
                         "version": action.version, "sidecar": sidecar, "item_id": item, "state": state})  # fmt: skip

    for index, (action, read) in enumerate(zip(actions, reads, strict=True), first):
        if read.failure is not None:
            out.errors.append((index, read.failure.error, read.failure.action))
            out.counts["error"] += 1
            continue
        op = action.op
        try:
            if _reads_object(action) and (read.info is None or read.info.kind not in _UNIT_OF):
                # not media (or DICOM): remembered, not read again until it changes; an item it was is a tombstone
                if action.item_id is not None:
                    out.tombstones.append(action.item_id)
                seen(action, "skipped", None, action.sidecar)
                out.counts["skipped"] += 1
                continue
            if op == "add":
                assert read.info is not None
                unit_type = _UNIT_OF[read.info.kind]
                metadata, vectors = (
                    _metadata_of(schema, read.metadata, _video_of(read.info)) if read.has_metadata else (None, [])
                )
                new_id = item_id(job.id, index)
                ctx.facts[action.url] = ObjectFacts(columns_of(read.info, read.etag))
                unit = unit_type(object_url=action.url)
                out.rows.extend(item_rows(ctx, index, unit, url_key(action.url), metadata))
                out.vectors.extend((new_id, *vector) for vector in vectors)
                seen(action, "item", new_id, action.sidecar)
                out.counts["created"] += 1
            elif op in ("change", "restore"):
                assert read.info is not None
                assert action.item_id is not None
                update = columns_of(read.info, read.etag)  # every media column: what the new version lacks is NULL
                update["item_type"] = _ITEM_TYPE[read.info.kind].value
                update |= {"b_id": action.item_id, "is_tombstone": False, "updated_at": now}
                out.reprobed.append(update)
                if read.has_metadata:
                    replace_metadata(action.item_id, read.metadata, _video_of(read.info))
                seen(action, "item", action.item_id, action.sidecar)
                out.counts["upserted"] += 1
            elif op == "metadata":
                assert action.item_id is not None
                if read.has_metadata:
                    replace_metadata(action.item_id, read.metadata, _video_of_item(conn, action.item_id))
                # a sidecar removed leaves the metadata as it was
                seen(action, "item", action.item_id, action.sidecar)
                out.counts["upserted"] += 1
            elif op == "move":
                assert action.item_id is not None
                assert action.old_url is not None
                out.moves.append({"b_id": action.item_id, "url": action.url, "url_key": url_key(action.url),
                                  "old_name": name_of(action.old_url), "name": name_of(action.url),
                                  "updated_at": now})  # fmt: skip
                out.forget.append(action.old_url)
                seen(action, "item", action.item_id, action.sidecar)
                out.counts["upserted"] += 1
            elif op == "delete":
                assert action.item_id is not None
                out.tombstones.append(action.item_id)
                seen(action, "gone", action.item_id, None)
                out.counts["upserted"] += 1
            elif op == "forget":
                out.forget.append(action.url)
                out.counts["skipped"] += 1
        except EmbeddingProblem as exc:
            where = action.sidecar_url or action.url
            out.errors.append((index, f"sidecar {where}: {exc.message}", SIDECAR_ACTION))
            out.counts["error"] += 1
            continue
        out.counts[f"sync:{op}"] += 1
    return out


def _video_of_item(conn: sa.Connection, item: str) -> VideoFacts | None:
    """A video item's facts as stored (its frames' embeddings are placed with them)."""
    columns = (items.c.item_type, items.c.fps, items.c.frame_count, items.c.duration)
    row = conn.execute(sa.select(*columns).where(items.c.id == item)).first()
    if row is None or row.item_type != model.ItemType.VIDEO.value:
        return None
    return VideoFacts(row.fps, row.frame_count, row.duration)


def _write(conn: sa.Connection, job: job_store.JobRecord, first: int, end: int, writes: _Writes) -> None:
    """One chunk, in the caller's transaction: progress mark first (it takes SQLite's write lock)."""
    outcome = {key: writes.counts[key] for key in ("created", "skipped", "upserted", "error")}
    job_store.finish_chunk(conn, job.id, first, end, outcome)
    bulk.insert_items(conn, writes.rows)
    embedding_store.insert(conn, writes.vectors)
    if writes.reprobed:
        # every update has the same keys: the media columns, item_type, is_tombstone, updated_at
        values: dict[str, Any] = {name: sa.bindparam(name) for name in writes.reprobed[0] if name != "b_id"}
        conn.execute(items.update().where(items.c.id == sa.bindparam("b_id")).values(**values), writes.reprobed)
    if writes.metadata:
        conn.execute(
            items.update()
            .where(items.c.id == sa.bindparam("item_id"))
            .values(client_metadata=sa.bindparam("client_metadata"), updated_at=sa.bindparam("updated_at")),
            writes.metadata,
        )
        embedding_store.delete_of_items(conn, [update["item_id"] for update in writes.metadata])
        embedding_store.insert(conn, writes.metadata_vectors)
    if writes.moves:
        # the item keeps its name unless it still had the default one of its old URL
        renamed = sa.case((items.c.name == sa.bindparam("old_name"), sa.bindparam("name")), else_=items.c.name)
        statement = (
            items.update()
            .where(items.c.id == sa.bindparam("b_id"))
            .values(
                url=sa.bindparam("url"),
                url_key=sa.bindparam("url_key"),
                name=renamed,
                updated_at=sa.bindparam("updated_at"),
            )
        )
        conn.execute(statement, writes.moves)
    if writes.tombstones:
        now = datetime.now(UTC)
        for start in range(0, len(writes.tombstones), 900):
            part = writes.tombstones[start : start + 900]
            conn.execute(items.update().where(items.c.id.in_(part)).values(is_tombstone=True, updated_at=now))
    gone = [url_key(url) for url in writes.forget] + [row["url_key"] for row in writes.seen]
    for start in range(0, len(gone), 900):
        conn.execute(
            synced_objects.delete().where(
                synced_objects.c.folder_id == job.folder_id, synced_objects.c.url_key.in_(gone[start : start + 900])
            )
        )
    if writes.seen:
        conn.execute(synced_objects.insert(), writes.seen)
    bulk.record_errors(conn, job.id, writes.errors)
    _add_counts(conn, job.id, {key[5:]: n for key, n in writes.counts.items() if key.startswith("sync:")})


def _add_counts(conn: sa.Connection, job_id: str, more: dict[str, int]) -> None:
    if not more:
        return
    current = conn.execute(sa.select(jobs.c.sync_counts).where(jobs.c.id == job_id)).scalar_one()
    counts = Counter(current or {})
    counts.update({f"{key}Done": n for key, n in more.items()})
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(sync_counts=dict(counts)))


def run_sync(
    engine: sa.Engine,
    job_id: str,
    storage: Storage,
    *,
    prefix: str,
    listing: Listing | None = None,
    progress: Callable[[dict[str, int]], None] | None = None,
    stop: threading.Event | None = None,
    chunk_actions: int = CHUNK_ACTIONS,
    chunk_reads: int = CHUNK_READS,
) -> job_store.JobRecord:
    """Plan the sync (unless planned already: it resumes) and work its actions until none
    is left, or it is cancelled, or ``stop`` is set (then it stays PENDING)."""
    with engine.begin() as conn:
        job = job_store.get(conn, job_id)
        if job.status in FINAL:
            return job
        job_store.set_status(conn, job_id, "PENDING", started=job.started_at is None)
    if job.sync_counts is None:  # not planned yet
        known = None
        if listing is None:
            listing, known = listed_and_known(engine, storage, prefix, job.folder_id)
        with engine.begin() as conn:
            actions, counts = plan(conn, job.folder_id, listing, known)
            done = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.sync_counts.is_(None))
                .values(units=encode_plan(actions), units_total=len(actions), sync_counts=dict(counts))
            )
            if done.rowcount != 1:
                raise job_store.ChunkTaken(job_id)
    with engine.connect() as conn:
        job = job_store.get(conn, job_id)
        actions = decode_plan(job_store.stored_units(conn, job_id))
    name_of = namer(storage.integration)
    first = job.next_unit
    while first < len(actions):
        with engine.connect() as conn:
            job = job_store.get(conn, job_id)
        if job.cancel_requested or (stop is not None and stop.is_set()):
            break
        end, reads = first, 0
        while end < len(actions) and end - first < chunk_actions and reads < chunk_reads:
            reads += _reads_object(actions[end]) or _reads_sidecar(actions[end])
            end += 1
        chunk = actions[first:end]
        found = read_actions(storage, chunk)
        with engine.begin() as conn:
            writes = _prepare(conn, job, first, chunk, found, name_of)
            _write(conn, job, first, end, writes)
        first = end
        if progress is not None:
            with engine.connect() as conn:
                progress(job_store.counts(job_store.get(conn, job_id)))
    with engine.begin() as conn:
        job = job_store.settle(conn, job_id)  # a sync ignores errors: done once every action is worked
        if job.status == "DONE":  # the time it ended: the same whoever writes it
            conn.execute(folders.update().where(folders.c.id == job.folder_id).values(synced_at=job.finished_at))
    return job
