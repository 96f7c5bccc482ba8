"""Local integrations: confinement to the root after resolving links, reads, listing, signing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import obstore
import pytest
from obstore.store import LocalStore

from accessio.errors import UrlNotUnderstood
from accessio.storage import (
    AccessMode,
    Integration,
    ListedObject,
    ObjectNotFound,
    Provider,
    ReadNotAllowed,
    Storage,
    UrlOutsideIntegration,
    local,
    open_storage,
)
from tests.page_cache import evict, evictions_work

DATA = bytes(range(256)) * 1000  # 256,000 bytes


def collect(found: AsyncIterator[ListedObject]) -> list[ListedObject]:
    async def run() -> list[ListedObject]:
        return [item async for item in found]

    return asyncio.run(run())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "videos" / "2024").mkdir(parents=True)
    (root / "videos" / "2024" / "a.bin").write_bytes(DATA)
    (root / "videos" / "b c.txt").write_bytes(b"hello")
    (root / "empty.bin").write_bytes(b"")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    (root / "link-out").symlink_to(tmp_path / "outside.txt")
    (root / "dir-out").symlink_to(tmp_path)
    (root / "link-in").symlink_to(root / "videos" / "b c.txt")
    return root


@pytest.fixture
def storage(tree: Path) -> Iterator[Storage]:
    with open_storage(Integration("disk", Provider.LOCAL, root=str(tree))) as opened:
        yield opened


@pytest.mark.parametrize(
    "path",
    [
        "{root}/../outside.txt",
        "{root}/videos/../../outside.txt",
        "{root}/videos/../empty.bin",
        "{root}/link-out",
        "{root}/dir-out/outside.txt",
        "{tmp}/outside.txt",
        "/etc/passwd",
        "file://{root}/%2E%2E/outside.txt",
    ],
)
def test_paths_out_of_the_root_are_refused(storage: Storage, tree: Path, path: str) -> None:
    url = path.format(root=tree, tmp=tree.parent)
    with pytest.raises(UrlOutsideIntegration):
        storage.locate(url)
    with pytest.raises(UrlOutsideIntegration):
        asyncio.run(storage.probe_head(url))


def test_an_admission_decides_as_locate_does_after_a_directory_is_known(storage: Storage, tree: Path) -> None:
    """An admission keeps a directory's verdict; a link in a known directory still gets the full check."""
    outside = tree.parent / "outside.txt"
    (tree / "videos" / "2024" / "link-out.bin").symlink_to(outside)
    (tree / "videos" / "2024" / "link-in.bin").symlink_to(tree / "videos" / "b c.txt")
    (tree / "videos" / "2024" / "sub").symlink_to(tree.parent)
    urls = [
        f"file://{tree}/videos/2024/a.bin",  # the directory becomes known
        f"file://{tree}/videos/2024/missing.bin",
        f"file://{tree}/videos/2024/link-out.bin",
        f"file://{tree}/videos/2024/link-in.bin",
        f"file://{tree}/videos/2024/sub/outside.txt",
        f"file://{tree}/videos/2024/sub",
        f"file://{tree}/dir-out/outside.txt",
        f"file://{tree}/dir-out/outside.txt",  # a refused directory is never kept
        f"file://{tree}/videos/2024/%2e%2e/%2e%2e/..%2F..%2Foutside.txt",
        f"file://{tree}/videos/2024/a.bin?x",
    ]

    def verdict(check: Callable[[str], object], url: str) -> str | None:
        try:
            check(url)
        except (UrlOutsideIntegration, UrlNotUnderstood) as exc:
            return type(exc).__name__
        return None

    admission = storage.admission()
    for _ in range(2):  # the second time round every directory is known
        assert [verdict(admission.admit, u) for u in urls] == [verdict(storage.locate, u) for u in urls]
    assert [verdict(admission.admit, u) for u in urls[:6]] == [
        None,
        None,
        "UrlOutsideIntegration",
        None,
        "UrlOutsideIntegration",
        "UrlOutsideIntegration",
    ]


def test_other_providers_are_refused(storage: Storage) -> None:
    for url in ["s3://bucket/key", "https://example.com/a.jpg", "gs://bucket/key"]:
        with pytest.raises(UrlOutsideIntegration, match="is a local integration"):
            storage.locate(url)


def test_paths_inside_the_root_read(storage: Storage, tree: Path) -> None:
    info, head = asyncio.run(storage.probe_head(f"file://{tree}/videos/2024/a.bin", 1000))
    assert (info.size, head) == (len(DATA), DATA[:1000])
    assert info.etag
    info, head = asyncio.run(storage.probe_head(f"{tree}/videos/b c.txt"))
    assert (info.size, head, info.content_type) == (5, b"hello", None)
    info, head = asyncio.run(storage.probe_head(f"{tree}/link-in", 2))  # a symlink that stays inside
    assert head == b"he"
    info, head = asyncio.run(storage.probe_head(f"{tree}/empty.bin"))
    assert (info.size, head) == (0, b"")


def test_read_range(storage: Storage, tree: Path) -> None:
    url = f"{tree}/videos/2024/a.bin"
    assert asyncio.run(storage.read_range(url, 1000, 1010)) == DATA[1000:1010]
    assert asyncio.run(storage.read_range(url, len(DATA) - 3, len(DATA) + 100)) == DATA[-3:]
    assert asyncio.run(storage.read_range(url, len(DATA) + 10, len(DATA) + 20)) == b""
    assert asyncio.run(storage.read_range(url, 5, 5)) == b""
    with pytest.raises(ValueError, match="not a byte range"):
        asyncio.run(storage.read_range(url, 10, 5))
    with pytest.raises(ObjectNotFound):
        asyncio.run(storage.read_range(f"{tree}/nope.bin", 0, 10))


def test_reader_over_a_local_file(storage: Storage, tree: Path) -> None:
    reader = storage.reader(f"{tree}/videos/2024/a.bin", block_size=4096, max_blocks=4)
    assert reader.size() == len(DATA)
    reader.seek(-10, os.SEEK_END)
    assert reader.read() == DATA[-10:]
    assert reader.requests == 2


def test_list_is_recursive_and_stays_in_the_root(storage: Storage, tree: Path) -> None:
    found = {Path(item.key).relative_to(tree.resolve()).as_posix(): item for item in collect(storage.list(str(tree)))}
    assert "videos/2024/a.bin" in found
    assert "videos/b c.txt" in found
    assert found["videos/2024/a.bin"].size == len(DATA)
    assert not any(name.startswith(("link-out", "dir-out")) for name in found)
    for item in found.values():
        assert storage.locate(item.url).key == item.key
    under = collect(storage.list(f"file://{tree}/videos/2024/"))
    assert [Path(item.key).name for item in under] == ["a.bin"]
    with pytest.raises(UrlOutsideIntegration):
        storage.list(str(tree.parent))


def _hostile_tree(root: Path) -> None:
    """Names and entries a walk must get right: links in and out, to files and directories,
    dangling, looping; a FIFO; a name that is not UTF-8; spaces and percent signs; an
    unreadable directory; a directory's link to its parent."""
    (root / "b dir" / "deeper").mkdir(parents=True)
    (root / "b dir" / "deeper" / "z%41.txt").write_bytes(b"z")
    (root / "b dir" / "a.txt").write_bytes(b"a" * 10)
    (root / "a.txt").write_bytes(b"")
    (root / "é.txt").write_bytes(b"e")
    os.utime(root / "a.txt", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    with open(os.fsencode(root) + b"/raw-\xff.bin", "wb") as raw:
        raw.write(b"raw")
    os.mkfifo(root / "fifo")
    (root / "loop").symlink_to(root)
    (root / "b dir" / "up").symlink_to(root / "b dir")
    (root / "dangling").symlink_to(root / "missing")
    (root / "to-file").symlink_to(root / "b dir" / "a.txt")
    (root.parent / "secret.txt").write_bytes(b"s")
    (root / "to-secret").symlink_to(root.parent / "secret.txt")
    (root / "locked").mkdir()
    (root / "locked" / "hidden.txt").write_bytes(b"h")
    (root / "locked").chmod(0)


@pytest.mark.skipif(not local.ACCELERATED, reason="the C scanner was not built")
def test_the_c_scanner_walks_as_python_does(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _hostile_tree(root)
    readable = os.access(root / "locked", os.R_OK)  # root reads a directory of mode 0
    try:
        walked = list(local.walk(str(root), str(root)))
        for directory in ("", "b dir", "b dir/deeper"):
            assert local._scandir.scan(str(root / directory), str(root) + "/") == local._scan(
                str(root / directory), str(root) + "/"
            )
    finally:
        (root / "locked").chmod(0o755)
    names = [os.path.relpath(path, root) for path, _, _ in walked]
    expected = ["a.txt", "raw-\udcff.bin", "to-file", "é.txt", "b dir/a.txt", "b dir/deeper/z%41.txt"]
    if readable:
        expected.append("locked/hidden.txt")
    assert names == expected
    assert walked[0] == (str(root / "a.txt"), 0, 1_700_000_000_123_456_789)
    assert walked[2][1] == 10  # a link inside the root: the size of what it points to
    with pytest.raises(FileNotFoundError, match="missing"):
        local._scandir.scan(str(root / "missing"), str(root) + "/")
    with pytest.raises(NotADirectoryError, match=r"a\.txt"):
        local._scandir.scan(str(root / "a.txt"), str(root) + "/")


def test_sign_returns_the_resolved_file_url(storage: Storage, tree: Path) -> None:
    assert storage.sign(f"{tree}/link-in") == (tree / "videos" / "b c.txt").resolve().as_uri()
    with pytest.raises(UrlOutsideIntegration):
        storage.sign(f"{tree}/link-out")


def test_strict_client_only_reads_nothing(tree: Path) -> None:
    integration = Integration("disk", Provider.LOCAL, root=str(tree), access_mode=AccessMode.STRICT_CLIENT_ONLY)
    with open_storage(integration) as storage:
        url = f"{tree}/videos/b c.txt"
        with pytest.raises(ReadNotAllowed):
            asyncio.run(storage.probe_head(url))
        with pytest.raises(ReadNotAllowed):
            asyncio.run(storage.read_range(url, 0, 1))
        with pytest.raises(ReadNotAllowed):
            storage.reader(url)
        with pytest.raises(ReadNotAllowed):
            storage.list(str(tree))
        assert storage.sign(url).startswith("file://")


def test_only_regular_files_are_objects(storage: Storage, tree: Path) -> None:
    """A directory, a path through a file and a FIFO are "no object" (a FIFO opened
    for reading would wait for a writer: the read must not hang)."""
    os.mkfifo(tree / "pipe")
    for url in (f"{tree}/videos", f"{tree}/videos/b c.txt/x", f"{tree}/pipe", f"{tree}/nope.bin"):
        with pytest.raises(ObjectNotFound):
            asyncio.run(storage.probe_head(url))
        with pytest.raises(ObjectNotFound):
            storage.reader(url).size()


def test_etag_is_obstores(storage: Storage, tree: Path) -> None:
    """Items registered when reads went through obstore's local store keep their ETag."""
    store = LocalStore(str(tree.resolve()))
    for name in ("videos/2024/a.bin", "empty.bin"):
        reader = storage.reader(f"{tree}/{name}")
        reader.read(10)
        assert reader.etag == obstore.head(store, name)["e_tag"]
    info, _ = asyncio.run(storage.probe_head(f"{tree}/videos/b c.txt"))
    assert info.etag == obstore.head(store, "videos/b c.txt")["e_tag"]



@pytest.mark.skipif(not local.TELLS_CACHED, reason="no RWF_NOWAIT on this platform")
def test_a_cached_only_reader_takes_the_page_cache_and_will_not_wait_for_the_disk(
    storage: Storage, tree: Path, tmp_path: Path
) -> None:
    path = tree / "videos" / "2024" / "a.bin"
    url = path.as_uri()
    path.read_bytes()
    reader = storage.reader(url, block_size=4096, cached_only=True)
    assert reader.size() == len(DATA)
    reader.seek(-10, os.SEEK_END)
    assert reader.read() == DATA[-10:]  # reads after the first wait for the disk if they must
    if not evictions_work(tmp_path / "scratch.bin"):
        pytest.skip("this file system keeps the pages asked to leave the page cache")
    refused = 0
    for _ in range(5):  # on a busy machine, a readahead still running may bring the page back in between
        assert evict(path, tries=250)
        try:
            storage.reader(url, block_size=4096, cached_only=True).size()
        except local.NotCached:
            refused += 1
            break
    assert refused == 1, "a cached-only read of a file out of the page cache never refused to wait"
    evict(path, tries=250)  # the read that found nothing started the readahead: it may still run
    plain = storage.reader(url, block_size=4096)  # without cached_only, the read waits for the disk
    assert plain.read(10) == DATA[:10]
