"""A seekable, read-only binary file over ranged GETs, for parsers that want a file.

>>> reader = storage.reader("s3://bucket/movie.mp4")  # doctest: +SKIP
>>> reader.seek(-8, io.SEEK_END); reader.read(8); (reader.requests, reader.bytes_read)  # doctest: +SKIP

The object is read in blocks of ``block_size`` bytes; the last ``max_blocks`` blocks
read are kept (least recently used dropped first). A read that needs several missing
blocks in a row asks for them in one request. The first request always starts at
offset 0: its answer tells the object's size (needed for ``SEEK_END``), and every
prober needs the first bytes anyway. If the object's size or ETag changes between
requests the read fails rather than mixing two versions.

Requests are synchronous: use the reader from a worker thread, never from inside an
event loop.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accessio.storage.errors import StorageError, redact

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


@dataclass(frozen=True)
class Fetched:
    """The answer to one ranged GET: the bytes, and what the response said of the whole object."""

    data: bytes
    size: int
    content_type: str | None
    etag: str | None


RangeFetch = Callable[[int, int], Fetched]
"""``fetch(start, end)``: bytes ``start`` to ``end - 1`` (fewer at the end of the object)."""


class RangedReader(io.RawIOBase):
    """A read-only, seekable binary file over an object (see the module docstring)."""

    def __init__(self, fetch: RangeFetch, *, url: str, block_size: int = 65536, max_blocks: int = 8) -> None:
        super().__init__()
        if block_size < 1 or max_blocks < 1:
            raise ValueError("block_size and max_blocks must be positive")
        self.url = url
        self.block_size = block_size
        self.max_blocks = max_blocks
        self.bytes_read = 0
        self.requests = 0
        self.content_type: str | None = None
        self.etag: str | None = None
        self._fetch = fetch
        self._size: int | None = None
        self._pos = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def __repr__(self) -> str:
        return f"<RangedReader {redact(self.url)} requests={self.requests} bytes_read={self.bytes_read}>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        """The object's size in bytes (the first call reads the first block, if nothing was read yet)."""
        if self._size is None:
            self._blocks_between(0, 0)
        assert self._size is not None
        return self._size

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size() + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if target < 0:
            raise OSError(22, f"negative seek position {target}")
        self._pos = target
        return target

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        if size is None or size < 0:
            size = max(0, self.size() - self._pos)
        data = self._read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        data = self._read_at(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read_at(self, pos: int, count: int) -> bytes:
        if count <= 0:
            return b""
        end = min(pos + count, self.size())
        if pos >= end:
            return b""
        first, last = pos // self.block_size, (end - 1) // self.block_size
        joined = b"".join(self._blocks_between(first, last))
        offset = pos - first * self.block_size
        return joined[offset : offset + (end - pos)]

    def _blocks_between(self, first: int, last: int) -> list[bytes]:
        found: dict[int, bytes] = {}
        missing: list[int] = []
        for index in range(first, last + 1):
            block = self._blocks.get(index)
            if block is None:
                missing.append(index)
            else:
                self._blocks.move_to_end(index)
                found[index] = block
        run: list[int] = []
        for index in [*missing, -1]:
            if run and index != run[-1] + 1:
                found.update(self._fetch_blocks(run[0], run[-1]))
                run = []
            run.append(index)
        return [found[i] for i in range(first, last + 1) if i in found]

    def _fetch_blocks(self, first: int, last: int) -> dict[int, bytes]:
        start, end = first * self.block_size, (last + 1) * self.block_size
        if self._size is not None:
            end = min(end, self._size)
        got = self._fetch(start, end)
        self.requests += 1
        self.bytes_read += len(got.data)
        if self._size is None:
            self._size, self.etag, self.content_type = got.size, got.etag, got.content_type
        elif got.size != self._size or (got.etag and self.etag and got.etag != self.etag):
            raise StorageError(f"{redact(self.url)} changed while it was being read")
        blocks: dict[int, bytes] = {}
        for number, index in enumerate(range(first, last + 1)):
            block = got.data[number * self.block_size : (number + 1) * self.block_size]
            if block:
                blocks[index] = block
                self._blocks[index] = block
                self._blocks.move_to_end(index)
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)
        return blocks
