"""Writing a job's chunks: each in one transaction that also moves the job past it.

While one chunk is written the runner prepares the next, so the writer works beside
it: a thread for PostgreSQL (the driver waits on the server with the GIL released),
and a process of its own for a SQLite file. SQLite releases the GIL only for each
row's step, so a writing thread would queue for the GIL behind the preparing one
(measured: the insert took twice as long as written alone); a process has its own.
The process gets each chunk as one msgpack message on its standard input and
answers with one line on its standard output; it ends when its input closes, also
when the runner is killed (a chunk it is writing is committed whole or not at all).

Small jobs and in-memory catalogs are written inline, in the runner's thread.
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
from datetime import datetime
from typing import IO, Any, Protocol

import msgspec
import sqlalchemy as sa

from accessio.catalog import bulk
from accessio.catalog import embeddings as embedding_store
from accessio.catalog import items as item_store
from accessio.catalog import jobs as job_store
from accessio.catalog.db import CatalogError, create_engine

PROCESS_AT_LEAST = 20_000  # units left in a job before a writer process pays for its start (~0.3 s)
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


def write_chunk(engine: sa.Engine, chunk: ChunkWrite) -> None:
    """Write a chunk and move the job past it, in one transaction. Raises
    :class:`~accessio.catalog.jobs.ChunkTaken` (and writes nothing) when another
    process already did."""
    with engine.begin() as conn:
        bulk.insert_items(conn, chunk.rows)
        embedding_store.insert(conn, chunk.vectors)
        upserts = [{"item_id": u.item_id, "client_metadata": u.client_metadata, "updated_at": u.updated_at}
                   for u in chunk.upserts]  # fmt: skip
        item_store.replace_client_metadata(conn, upserts)
        if chunk.upsert_vectors or (upserts and embedding_store.any_stored(conn)):
            embedding_store.delete_of_items(conn, [u.item_id for u in chunk.upserts])
            embedding_store.insert(conn, chunk.upsert_vectors)
        bulk.record_errors(conn, chunk.job_id, chunk.errors)
        job_store.finish_chunk(conn, chunk.job_id, chunk.first, chunk.end, chunk.outcome)


class Writer(Protocol):
    def submit(self, chunk: ChunkWrite) -> None:
        """Start writing a chunk (only when the previous one was waited for)."""

    def wait(self) -> None:
        """Until the chunk submitted is written; its error, if it failed."""


class InlineWriter:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._failure: BaseException | None = None

    def submit(self, chunk: ChunkWrite) -> None:
        try:
            write_chunk(self._engine, chunk)
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

    def submit(self, chunk: ChunkWrite) -> None:
        self._future = self._pool.submit(write_chunk, self._engine, chunk)

    def wait(self) -> None:
        future, self._future = self._future, None
        if future is not None:
            future.result()


class ProcessWriter:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._encoder = msgspec.msgpack.Encoder()
        self._waiting = False

    def submit(self, chunk: ChunkWrite) -> None:
        payload = self._encoder.encode(chunk)
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(_HEADER.pack(len(payload)))
            stdin.write(payload)
            stdin.flush()
        except BrokenPipeError:
            raise self._stopped() from None
        self._waiting = True

    def wait(self) -> None:
        if not self._waiting:
            return
        self._waiting = False
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
    try:
        yield ProcessWriter(process)
    finally:
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
    while (header := _read_exactly(source, _HEADER.size)) is not None:
        payload = _read_exactly(source, _HEADER.unpack(header)[0])
        if payload is None:
            break  # the runner stopped in the middle of handing over a chunk: nothing to write
        answer: dict[str, str]
        try:
            write_chunk(engine, decoder.decode(payload))
            answer = {"ok": ""}
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
