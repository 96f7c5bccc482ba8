"""Reading the objects of a chunk: each probed for its media metadata, many at once.

A probe works on a :class:`~accessio.storage.reader.RangedReader`, which makes
blocking requests, so probes run on a pool of worker threads (obstore and the web
client release the GIL while they wait); the event loop only bounds how many run at
once. Local files are probed on one thread while their first block is in the page
cache (a probe is then all CPU, and threads taking turns at the GIL for every system
call cost twice the CPU: 20,000 cached JPEGs, 7.5 s of CPU with 32 threads, 3.5 s with
one); a file whose read would wait for the disk goes to the pool, which is only
started then. A DICOM file whose tags the spec supplied is not probed: one ranged read gives
its size and ETag. Whatever goes wrong with one object fails its unit, with an error
and the action to take; nothing stops the job.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import msgspec

from accessio.errors import AccessioError
from accessio.jobs.units import ObjectFacts
from accessio.probe import MediaInfo, block_size_for, probe
from accessio.spec.extensions import guess_mime_type
from accessio.storage import local
from accessio.storage.confine import Admission
from accessio.storage.errors import redact
from accessio.storage.integration import Integration
from accessio.storage.urls import Provider

CONCURRENCY = 32
HEAD_ONLY = None  # the kind to probe of an object read only for its size and ETag

_log = logging.getLogger(__name__)
T = TypeVar("T")


class ObjectSource(Protocol):
    """What a job needs of storage: its integration, where a URL belongs, and reads of objects."""

    integration: Integration

    def locate(self, url: str) -> Any: ...

    def admission(self) -> Admission: ...

    async def probe_head(self, url: str, length: int = 65536) -> tuple[Any, bytes]: ...

    def reader(self, url: str, *, block_size: int = 65536, cached_only: bool = False) -> Any: ...


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
    "probe.type_mismatch": "Register the file under its actual type, or fix the object URL.",
    "probe.corrupt": "Check the file: it is truncated or damaged. Replace it, or supply its media metadata.",
    "probe.too_large": "Supply the media metadata in the spec: the file is beyond what is probed.",
    "probe.unsupported": "Supply the media metadata in the spec, or convert the file to a supported format.",
    "probe.timeout": "Retry the job; if it times out again, supply the media metadata in the spec.",
    "storage.write_not_allowed": "Give the integration a write prefix (accessio integration set NAME --write-prefix).",
}
DEFAULT_ACTION = "Retry the job; if the error persists, check the storage service and the integration's settings."


def failure_of(exc: AccessioError) -> UnitFailure:
    return UnitFailure(exc.message, ACTIONS.get(exc.code, DEFAULT_ACTION))


# MediaInfo fields stored in item columns of the same name
_INFO_COLUMNS = (
    "mime_type", "file_size", "width", "height", "fps", "duration", "frame_count", "codec", "rotation",
    "sample_rate", "bit_depth", "num_channels", "num_pages", "encoding", "modality",
    "dicom_study_uid", "dicom_series_uid", "dicom_instance_uid",
)  # fmt: skip
_ENCODER = msgspec.json.Encoder()


def columns_of(info: MediaInfo, etag: str | None) -> dict[str, Any]:
    """Item columns from what a probe found (``media_extra`` as JSON text, as rows carry it)."""
    columns: dict[str, Any] = {name: getattr(info, name) for name in _INFO_COLUMNS}
    columns["etag"] = etag
    extra: dict[str, Any] = {}
    if info.dicom_tags is not None:
        extra["dicomTags"] = msgspec.to_builtins(info.dicom_tags, enc_hook=str)
    if info.shape is not None:
        extra["shape"] = list(info.shape)
    if info.voxel_size is not None:
        extra["voxelSize"] = list(info.voxel_size)
    columns["media_extra"] = _ENCODER.encode(extra).decode() if extra else None
    return columns


def probe_object(source: ObjectSource, url: str, kind: str, *, cached_only: bool = False) -> ObjectFacts:
    """Probe one object as ``kind`` (from a worker thread); ``cached_only``: raise
    :class:`~accessio.storage.local.NotCached` if a local file's first block is not in
    the page cache (before anything is probed)."""
    with source.reader(url, block_size=block_size_for(kind), cached_only=cached_only) as reader:
        info = probe(reader, kind, url=url)
        return ObjectFacts(columns_of(info, reader.etag))


def queue_workers(
    queue: deque[T], read: Callable[[T, bool], None], *, cached_first: bool, workers: int, name: str
) -> list[Callable[[], None]]:
    """The bodies of the threads that work ``queue``, each entry read by ``read(entry,
    cached_only)``, which records what it finds and raises
    :class:`~accessio.storage.local.NotCached` only when ``cached_only``.

    ``cached_first``: one body reads what the page cache holds and hands what waits for
    the disk to a pool of :data:`CONCURRENCY` - 1 threads, started only then (see the
    module docstring). Otherwise ``workers`` bodies share the queue, with no future or
    callback per entry (with one each, probing a small local file cost three times the
    probe itself)."""

    def work() -> None:
        while True:
            try:
                entry = queue.popleft()  # atomic: the threads share the queue without a lock
            except IndexError:
                return
            read(entry, False)

    def work_cached_first() -> None:
        waiting: ThreadPoolExecutor | None = None
        try:
            while True:
                try:
                    entry = queue.popleft()
                except IndexError:
                    return
                try:
                    read(entry, True)
                except local.NotCached:
                    if waiting is None:
                        waiting = ThreadPoolExecutor(CONCURRENCY - 1, thread_name_prefix=f"{name}-disk")
                    waiting.submit(read, entry, False)  # ``read`` records what it finds: no result to wait for
        finally:
            if waiting is not None:
                waiting.shutdown(wait=True)

    return [work_cached_first] if cached_first else [work] * workers


async def read_all(
    source: ObjectSource, wanted: list[tuple[int, str, str | None]], facts: dict[str, ObjectFacts]
) -> dict[int, UnitFailure]:
    """Probe each ``(unit_index, url, kind)`` (``kind`` :data:`HEAD_ONLY`: one ranged
    read), many at once; the facts by URL, the failures by unit.

    Probes run on :data:`CONCURRENCY` worker threads that each take the next object from
    a shared queue, with no future or event-loop callback per object (with one each,
    probing a small local file cost three times the probe itself); local files on one
    thread, those not in the page cache on :data:`CONCURRENCY` - 1 more (see the module
    docstring). Reads of size and ETag only run on the event loop, within what the
    probes leave of the bound.
    """
    failures: dict[int, UnitFailure] = {}
    probes: deque[tuple[int, str, str]] = deque()
    heads: list[tuple[int, str]] = []
    for index, url, kind in wanted:
        if kind is HEAD_ONLY:
            heads.append((index, url))
        else:
            probes.append((index, url, kind))
    workers = min(CONCURRENCY, len(probes))
    cached_first = workers > 1 and source.integration.provider is Provider.LOCAL and local.TELLS_CACHED
    limit = asyncio.Semaphore(max(1, CONCURRENCY - (1 if cached_first else workers)))

    def fail(index: int, url: str, exc: Exception) -> None:
        if isinstance(exc, AccessioError):
            failures.setdefault(index, failure_of(exc))
        else:  # a fault of ours: the unit fails, the job goes on, the log keeps the trace
            _log.error("reading %s failed", redact(url), exc_info=exc)
            failure = UnitFailure(f"reading the object failed: {type(exc).__name__}", DEFAULT_ACTION)
            failures.setdefault(index, failure)

    def read(entry: tuple[int, str, str], cached_only: bool) -> None:
        index, url, kind = entry
        try:
            facts[url] = probe_object(source, url, kind, cached_only=cached_only)
        except local.NotCached:
            raise
        except Exception as exc:
            fail(index, url, exc)

    async def head(index: int, url: str) -> None:
        async with limit:
            try:
                info, _ = await source.probe_head(url)
                columns = {"file_size": info.size, "mime_type": _media_type(info.content_type, url)}
                facts[url] = ObjectFacts({**columns, "etag": info.etag})
            except Exception as exc:
                fail(index, url, exc)

    loop = asyncio.get_running_loop()
    threads = queue_workers(probes, read, cached_first=cached_first, workers=workers, name="accessio-probe")
    with ThreadPoolExecutor(max(len(threads), 1), thread_name_prefix="accessio-probe") as pool:
        await asyncio.gather(
            *(loop.run_in_executor(pool, run) for run in threads),
            *(head(index, url) for index, url in heads),
        )
    return failures


_GENERIC_TYPES = frozenset({None, "", "application/octet-stream", "binary/octet-stream"})


def _media_type(content_type: str | None, url: str) -> str | None:
    """The store's content type, unless it says nothing (local files, octet-stream
    uploads): then the extension's."""
    if content_type in _GENERIC_TYPES:
        return guess_mime_type(url) or content_type or None
    return content_type
