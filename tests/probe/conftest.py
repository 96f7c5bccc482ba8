"""The media corpus, made once per session, and a RangedReader over bytes that counts what it fetches."""

from __future__ import annotations

from pathlib import Path

import pytest

from accessio.storage.reader import Fetched, RangedReader
from tests.media import Entry, build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Entry]:
    return build_corpus(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def by_name(corpus: list[Entry]) -> dict[str, Entry]:
    return {entry.name: entry for entry in corpus}


def ranged(data: bytes, block_size: int = 65536) -> RangedReader:
    """The production reader, over bytes in memory: ``requests`` and ``bytes_read`` count as over S3."""
    return RangedReader(lambda start, end: Fetched(data[start:end], len(data), None, None), url="mem://x",
                        block_size=block_size)  # fmt: skip


def file_ranged(path: Path) -> RangedReader:
    """A RangedReader over a file, fetching only the ranges asked (a sparse 200 MB file stays cheap)."""

    def fetch(start: int, end: int) -> Fetched:
        with path.open("rb") as handle:
            handle.seek(start)
            return Fetched(handle.read(end - start), path.stat().st_size, None, None)

    return RangedReader(fetch, url=f"file://{path}")
