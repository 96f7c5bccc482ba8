"""RangedReader: a normal binary file for parsers, over counted ranged reads with a block cache.

The ranges come from a function over bytes in memory (the reader's whole contract with
storage is ``fetch(start, end) -> Fetched``); the storage suites run it over moto,
Azurite, a web server and local files.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accessio.storage import Integration, Provider, RangedReader, StorageError, open_storage
from accessio.storage.reader import Fetched


class Object:
    """Bytes served by range, with a log of the ranges asked for."""

    def __init__(self, data: bytes, etag: str = '"v1"') -> None:
        self.data = data
        self.etag = etag
        self.asked: list[tuple[int, int]] = []

    def fetch(self, start: int, end: int) -> Fetched:
        self.asked.append((start, end))
        return Fetched(self.data[start:end], len(self.data), "application/zip", self.etag)


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("big.bin", bytes(range(256)) * 2000)
        archive.writestr("hello.txt", "hello from the end of the archive")
    return buffer.getvalue()


def test_a_parser_uses_it_as_a_file_from_a_worker_thread() -> None:
    source = Object(zip_bytes())
    reader = RangedReader(source.fetch, url="mem://archive.zip", block_size=4096, max_blocks=4)

    def parse() -> bytes:
        with zipfile.ZipFile(reader) as archive:
            return archive.read("hello.txt")

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(parse).result() == b"hello from the end of the archive"
    assert reader.requests == len(source.asked)
    assert reader.bytes_read < len(source.data) / 10  # the central directory and one member, not the archive
    assert source.asked[0][0] == 0  # the first request learns the size


def test_blocks_are_cached_coalesced_and_evicted() -> None:
    data = bytes(range(256)) * 100  # 25,600 bytes
    source = Object(data)
    reader = RangedReader(source.fetch, url="mem://x", block_size=1000, max_blocks=3)
    assert reader.read(10) == data[:10]
    assert reader.read(10) == data[10:20]  # same block
    assert source.asked == [(0, 1000)]
    reader.seek(5000)
    assert reader.read(2500) == data[5000:7500]  # blocks 5, 6, 7: one request
    assert source.asked[-1] == (5000, 8000)
    reader.seek(0)
    assert reader.read(1) == data[:1]  # block 0 was evicted
    assert len(source.asked) == 3
    reader.seek(-5, io.SEEK_END)
    assert reader.read(100) == data[-5:]
    assert reader.read(100) == b""
    assert (reader.requests, reader.bytes_read) == (4, 1000 + 3000 + 1000 + 600)
    assert reader.size() == len(data)


def test_readinto_and_buffered_wrapping() -> None:
    data = b"0123456789" * 1000
    reader = RangedReader(Object(data).fetch, url="mem://x", block_size=64)
    target = bytearray(20)
    reader.seek(95)
    assert reader.readinto(target) == 20
    assert bytes(target) == data[95:115]
    buffered = io.BufferedReader(reader, buffer_size=256)
    buffered.seek(0)
    assert buffered.read(3) == b"012"
    assert buffered.tell() == 3
    text = io.TextIOWrapper(io.BufferedReader(RangedReader(Object(b"a\nb\n").fetch, url="mem://t")))
    assert text.readlines() == ["a\n", "b\n"]


def test_an_object_that_changes_while_read_fails() -> None:
    source = Object(b"x" * 10_000)
    reader = RangedReader(source.fetch, url="mem://x", block_size=1000)
    reader.read(1)
    source.etag = '"v2"'
    reader.seek(5000)
    with pytest.raises(StorageError, match="changed while it was being read"):
        reader.read(1)


def test_edges() -> None:
    empty = RangedReader(Object(b"").fetch, url="mem://empty")
    assert (empty.size(), empty.read(), empty.read(10)) == (0, b"", b"")
    reader = RangedReader(Object(b"abc").fetch, url="mem://abc")
    with pytest.raises(OSError, match="negative seek"):
        reader.seek(-1)
    with pytest.raises(ValueError, match="whence"):
        reader.seek(0, 7)
    assert reader.seek(10) == 10
    assert reader.read(5) == b""
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)
    with pytest.raises(ValueError, match="positive"):
        RangedReader(Object(b"").fetch, url="mem://x", block_size=0)


def test_a_storage_reader_from_async_code_through_a_thread(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(zip_bytes())
    with open_storage(Integration("disk", Provider.LOCAL, root=str(tmp_path))) as storage:
        reader = storage.reader(str(tmp_path / "a.zip"))

        async def names() -> list[str]:
            def read() -> list[str]:
                with zipfile.ZipFile(reader) as archive:
                    return archive.namelist()

            return await asyncio.to_thread(read)

        assert asyncio.run(names()) == ["big.bin", "hello.txt"]
        assert "requests=" in repr(reader)
