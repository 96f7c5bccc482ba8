"""Writing a job's chunks: each in one transaction that also moves the job past it.

While one chunk is written the runner prepares the next, so the writer works beside
it: a thread for PostgreSQL (the driver waits on the server with the GIL released),
and a process of its own for a SQLite file. SQLite releases the GIL only for each
row's step, so a writing thread would queue for the GIL behind the preparing one
(measured: the insert took twice as long as written alone); a process has its own.
The process gets each chunk as one msgpack message on its standard input and
answers with one line on its standard output; it ends when its input closes, also
when the runner is killed (a chunk it is writing is committed whole or not at all).

Small jobs and in-memory catalogs are written inline, in the runner's thread, and so are
jobs that read most of their objects: those are bound by the reads (probing a small
local file costs about ten times writing its row), and the process's start (about 1 s
of CPU, mostly imports) would cost more than the writes it takes over.

With ``skip_duplicate_urls`` the write is what decides: the runner looked duplicates up
when it prepared the chunk, but other jobs of the folder may have written the same
objects since (in another process, maybe). The chunk's transaction first moves the
job's progress mark (in SQLite that write takes the database's write lock before
anything is read), then takes the folder's lock (PostgreSQL: an advisory lock) and
looks the chunk's new top-level items up again; one already there (another id, the same
URL, or for a group the same key) is not inserted: its unit counts as skipped, or with
``upsert_metadata`` becomes an upsert of the item that is there. Both locks are held
until the commit, so no two jobs can both find an object missing and both insert it.
"""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Protocol

import msgspec
import sqlalchemy as sa

from accessio.catalog import bulk
from accessio.catalog import chunks as chunk_store
from accessio.catalog import embeddings as embedding_store
from accessio.catalog import items as item_store
from accessio.catalog import jobs as job_store
from accessio.catalog.db import CatalogError, create_engine

PROCESS_AT_LEAST = 20_000  # units left that need no read before a writer process pays for its start
_HEADER = struct.Struct("<Q")


class Upsert(msgspec.Struct, array_like=True):
    item_id: str
    client_metadata: Any
    updated_at: datetime


class ChunkWrite(msgspec.Struct, array_like=True):
    """What one chunk writes: units ``first`` to ``end - 1`` of a job."""

    job_id: str
    first: int
    end: int
    rows: list[tuple[Any, ...]]  # item rows, in ``bulk.ITEM_COLUMNS`` order
    upserts: list[Upsert]
    errors: list[tuple[int, str, str]]  # failed units: (unit_index, error, action)
    outcome: dict[str, int]  # counters to add: created, skipped, upserted, error
    # embeddings of the items created: (item_id, key, frame or None, float32 bytes)
    vectors: list[tuple[str, str, int | None, bytes]] = []
    # embeddings of the items upserted, which replace all they had
    upsert_vectors: list[tuple[str, str, int | None, bytes]] = []
    # the job's folder and flags: with skip_duplicate_urls the write checks the folder again
    folder_id: str = ""
    skip_duplicate_urls: bool = False
    upsert_metadata: bool = False
    # a chunk of a job worked by Celery workers: its row in ``job_chunks`` and the
    # worker process that claimed it (``catalog.chunks``); empty for in-process jobs
    chunk_index: int = -1
    holder: str = ""


def write_chunk(engine: sa.Engine, chunk: ChunkWrite, moved: dict[str, str] | None = None) -> None:
    """Write a chunk and move the job past it, in one transaction. Raises
    :class:`~accessio.catalog.jobs.ChunkTaken` (and writes nothing) when another
    process already did.

    With ``skip_duplicate_urls``, units whose objects the folder holds by now are not
    inserted (see the module docstring); ``chunk.outcome`` is corrected in place once
    the chunk is committed, so it tells what the job's counters got. ``moved`` is kept
    by a writer across the chunks of one job: our items that were not inserted for that
    reason, with the item found in their place (a later chunk's upsert of one goes there).
    """
    recheck = _Recheck()
    with engine.begin() as conn:
        if chunk.holder:  # a worker's chunk: done under its claim (jobs' counters at the end)
            chunk_store.finish(conn, chunk.job_id, chunk.chunk_index, chunk.holder)
        else:
            # The progress mark comes first: in SQLite this write takes the database's write
            # lock before the transaction reads anything.
            job_store.finish_chunk(conn, chunk.job_id, chunk.first, chunk.end, chunk.outcome)
        written = chunk
        if chunk.skip_duplicate_urls:
            written, recheck = _recheck(conn, chunk, moved or {})
        bulk.insert_items(conn, written.rows)
        embedding_store.insert(conn, written.vectors)
        upserts = [{"item_id": u.item_id, "client_metadata": u.client_metadata, "updated_at": u.updated_at}
                   for u in written.upserts]  # fmt: skip
        item_store.replace_client_metadata(conn, upserts)
        if written.upsert_vectors or (upserts and embedding_store.any_stored(conn)):
            embedding_store.delete_of_items(conn, [u.item_id for u in written.upserts])
            embedding_store.insert(conn, written.upsert_vectors)
        bulk.record_errors(conn, written.job_id, written.errors)
        if chunk.holder:  # the job's row last: chunks of one job running at once wait for it only here
            counted = {key: chunk.outcome.get(key, 0) + recheck.outcome.get(key, 0)
                       for key in ("created", "skipped", "upserted", "error")}  # fmt: skip
            chunk_store.add_counts(conn, chunk.job_id, chunk.end - chunk.first, counted)
    for counter, change in recheck.outcome.items():
        chunk.outcome[counter] = chunk.outcome.get(counter, 0) + change
    if moved is not None:
        moved.update(recheck.moved)


@dataclass
class _Recheck:
    """What the write's own duplicate check changed: counters to add, and our items not
    inserted, each with the item of the folder found in its place."""

    outcome: dict[str, int] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)


_COLUMN = {name: i for i, name in enumerate(bulk.ITEM_COLUMNS)}
_ID, _PARENT, _URL, _URL_KEY = (_COLUMN[name] for name in ("id", "parent_item_id", "url", "url_key"))
_CLIENT_METADATA = _COLUMN["client_metadata"]


def _recheck(conn: sa.Connection, chunk: ChunkWrite, moved: dict[str, str]) -> tuple[ChunkWrite, _Recheck]:
    """The chunk without the units whose objects the folder holds by now, looked up
    under the folder's lock (held until the commit), the job's counters corrected.

    A unit found here was not in the folder when the runner looked: another job wrote it
    since. With ``upsert_metadata`` it becomes an upsert of the item found (its client
    metadata and embeddings replace that item's), otherwise it is skipped. The runner's
    upserts of such items (later units of the job with the same objects) follow them to
    the item found, also those of earlier chunks (``moved``).
    """
    candidates = [row for row in chunk.rows if row[_PARENT] is None and row[_URL_KEY] is not None]
    found: dict[int, list[tuple[str, str | None]]] = {}
    if candidates:
        item_store.lock_folder(conn, chunk.folder_id)
        found = item_store.existing_all(conn, chunk.folder_id, (row[_URL_KEY] for row in candidates))
    there: dict[str, tuple[str, tuple[Any, ...]]] = {}  # our item -> (the item found, our row)
    for row in candidates if found else ():
        hits = found.get(row[_URL_KEY])
        if not hits or any(hit_id == row[_ID] for hit_id, _ in hits):
            continue  # not there, or there under our id: this very chunk again (ON CONFLICT keeps it)
        # Keys are 8 bytes of a SHA-256: a hit is confirmed on the URL (a group's url is
        # NULL on both sides, its key covers its whole URL list, as the runner takes it).
        match = next((hit_id for hit_id, url in hits if url == row[_URL]), None)
        if match is not None:
            there[row[_ID]] = (match, row)
    follows = chunk.upsert_metadata and any(u.item_id in moved for u in chunk.upserts)
    if not there and not follows:
        return chunk, _Recheck()
    now_moved = {ours: item for ours, (item, _) in there.items()}
    dropped = {row[_ID] for row in chunk.rows if row[_ID] in now_moved or row[_PARENT] in now_moved}
    rows = [row for row in chunk.rows if row[_ID] not in dropped]
    vectors = [vector for vector in chunk.vectors if vector[0] not in dropped]
    upserts, upsert_vectors = chunk.upserts, chunk.upsert_vectors
    if chunk.upsert_metadata:
        follow = {**moved, **now_moved}
        moment = datetime.now(UTC)
        later = [Upsert(follow.get(u.item_id, u.item_id), u.client_metadata, u.updated_at) for u in chunk.upserts]
        replaced_later = {u.item_id for u in later}
        # The upserts of the items found go first: the runner's that follow them to the
        # same item come from later units of the job, whose metadata wins.
        upserts = [Upsert(item, _decoded(row[_CLIENT_METADATA]), moment) for item, row in there.values()] + later
        upsert_vectors = [
            (now_moved[item], key, frame, blob)
            for item, key, frame, blob in chunk.vectors
            if item in now_moved and now_moved[item] not in replaced_later  # a later upsert replaces them all
        ] + [(follow.get(item, item), key, frame, blob) for item, key, frame, blob in chunk.upsert_vectors]
    count = len(there)
    outcome = {"created": -count, "upserted" if chunk.upsert_metadata else "skipped": count}
    if count and not chunk.holder:  # the mark moved again, from the chunk's end to itself: that only adds the counters
        job_store.finish_chunk(conn, chunk.job_id, chunk.end, chunk.end, outcome)
    written = msgspec.structs.replace(chunk, rows=rows, vectors=vectors, upserts=upserts, upsert_vectors=upsert_vectors)
    return written, _Recheck(outcome if count else {}, now_moved)


def _decoded(client_metadata: str | None) -> Any:
    """Client metadata from an item row's database form (JSON text) to its value."""
    return None if client_metadata is None else msgspec.json.decode(client_metadata)


class Writer(Protocol):
    def submit(self, chunk: ChunkWrite) -> None:
        """Start writing a chunk (only when the previous one was waited for)."""

    def wait(self) -> None:
        """Until the chunk submitted is written; its error, if it failed."""


class InlineWriter:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._failure: BaseException | None = None
        self._moved: dict[str, str] = {}

    def submit(self, chunk: ChunkWrite) -> None:
        try:
            write_chunk(self._engine, chunk, self._moved)
        except Exception as exc:  # reported by wait(), like the other writers
            self._failure = exc

    def wait(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure


class ThreadWriter:
    def __init__(self, engine: sa.Engine, pool: ThreadPoolExecutor) -> None:
        self._engine = engine
        self._pool = pool
        self._future: Future[None] | None = None
        self._moved: dict[str, str] = {}

    def submit(self, chunk: ChunkWrite) -> None:
        self._future = self._pool.submit(write_chunk, self._engine, chunk, self._moved)

    def wait(self) -> None:
        future, self._future = self._future, None
        if future is not None:
            future.result()


class ProcessWriter:
    """Hands chunks to the writer process. A chunk is sent from a thread of its own: a
    message of a few MB goes through the pipe 64 KiB at a time, each piece waiting for
    the process to take the last one, and the runner prepares the next chunk meanwhile
    (on a busy machine sending 2,000 probed rows kept it waiting 0.2 s per chunk)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._encoder = msgspec.msgpack.Encoder()
        self._waiting: ChunkWrite | None = None
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="accessio-writer-pipe")
        self._sending: Future[None] | None = None

    def submit(self, chunk: ChunkWrite) -> None:
        self._sending = self._sender.submit(self._send, self._encoder.encode(chunk))
        self._waiting = chunk

    def _send(self, payload: bytes) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(_HEADER.pack(len(payload)))
        stdin.write(payload)
        stdin.flush()

    def wait(self) -> None:
        chunk, self._waiting = self._waiting, None
        sending, self._sending = self._sending, None
        if chunk is None or sending is None:
            return
        try:
            sending.result()
        except BrokenPipeError:
            raise self._stopped() from None
        stdout = self._process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise self._stopped()
        answer = json.loads(line)
        if answer.get("taken"):
            raise job_store.ChunkTaken(answer["taken"])
        if "error" in answer:
            raise CatalogError(f"writing to the catalog failed: {answer['error']}")
        chunk.outcome.update(answer.get("outcome", {}))  # as corrected by the write (see write_chunk)

    def close(self) -> None:
        """Let a chunk being sent arrive whole (the process writes it, or drops it if it stops)."""
        self._sender.shutdown(wait=True)

    def _stopped(self) -> CatalogError:
        code = self._process.wait()
        stderr = self._process.stderr.read().decode(errors="replace")[-2000:] if self._process.stderr else ""
        return CatalogError(f"the catalog writer process stopped (exit code {code}): {stderr.strip()}")


@contextmanager
def open_writer(engine: sa.Engine, units_left: int) -> Iterator[Writer]:
    """The writer for a job with ``units_left`` units to work (see the module docstring)."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        with ThreadPoolExecutor(1, thread_name_prefix="accessio-writer") as pool:
            yield ThreadWriter(engine, pool)
        return
    if url.database in (None, "", ":memory:") or units_left < PROCESS_AT_LEAST:
        yield InlineWriter(engine)
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "accessio.jobs.writer", url.render_as_string(hide_password=False)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    writer = ProcessWriter(process)
    try:
        yield writer
    finally:
        writer.close()
        _close(process)


def _close(process: subprocess.Popen[bytes]) -> None:
    """End the writer: its input closes, it finishes a chunk it is writing, and exits."""
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with suppress(BrokenPipeError):
                stream.close()
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(url: str) -> None:
    """The writer process: write each chunk read from standard input, answer each with one line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the runner, which closes our input
    engine = create_engine(url)
    decoder = msgspec.msgpack.Decoder(ChunkWrite)
    source, answers = sys.stdin.buffer, sys.stdout.buffer
    moved: dict[str, str] = {}  # one job's chunks come through this process (see write_chunk)
    while (header := _read_exactly(source, _HEADER.size)) is not None:
        payload = _read_exactly(source, _HEADER.unpack(header)[0])
        if payload is None:
            break  # the runner stopped in the middle of handing over a chunk: nothing to write
        answer: dict[str, Any]
        try:
            chunk = decoder.decode(payload)
            write_chunk(engine, chunk, moved)
            answer = {"ok": "", "outcome": chunk.outcome}
        except job_store.ChunkTaken as exc:
            answer = {"taken": str(exc)}
        except Exception as exc:  # the runner reports it; this process goes on for the next chunk
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            answers.write(json.dumps(answer).encode() + b"\n")
            answers.flush()
        except BrokenPipeError:
            break
    engine.dispose()


if __name__ == "__main__":
    serve(sys.argv[1])
