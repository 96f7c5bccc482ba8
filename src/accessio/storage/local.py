"""Local files: listing a directory without leaving the integration's root, and ranged reads.

obstore's local store follows every symlink while walking, so a link to a directory
outside the root would list (and loop through) the world. This walk does not descend
into linked directories (their targets inside the root are listed under their real
path anyway) and keeps a linked file only when it resolves inside the root.

Reads (:func:`read_range`) are an ``open``, an ``fstat`` and a ``pread``: through
obstore's local store a read cost three times as much (measured: 48 against 14 µs for
a 32 KiB read of a cached file), which was most of what probing a small local file
costs. The ETag is obstore's (``"inode-mtime-size"``, in hex, the modification time
in microseconds), so items registered before keep theirs. Only regular files are
objects, as in listings: a directory, a FIFO or a device is "no object" (opened
without blocking, so a FIFO cannot hang the read).

A read can also be asked to take the bytes only if they are in the page cache
(``cached_only``: ``preadv`` with ``RWF_NOWAIT``) and to raise :class:`NotCached` rather
than wait for the disk: probing reads files that are mostly cached on one thread,
which costs half the CPU of many threads taking turns at the interpreter's lock, and
hands the others to threads that wait for the disk together (``accessio.jobs.reads``).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from operator import attrgetter
from typing import TypeVar
from urllib.parse import quote_from_bytes

from accessio.storage.errors import AccessDenied, ObjectNotFound, StorageError, redact
from accessio.storage.reader import Fetched

_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None) if hasattr(os, "preadv") else None
TELLS_CACHED = _NOWAIT is not None
"""Whether reads can tell a file in the page cache from one on the disk (Linux)."""

try:
    from accessio.storage import _scandir
except ImportError:  # pragma: no cover - only without a C compiler
    _scandir = None  # type: ignore[assignment]

ACCELERATED = _scandir is not None
"""Whether directories are read by the C scanner (built with the package when a compiler is there)."""

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


T = TypeVar("T")
_name = attrgetter("name")


File = tuple[str, int, int]
"""A regular file a walk found: its path (or URL), size and modification time (ns)."""


def modified_at(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC)


_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch  # what a file URL holds unquoted


def file_url(path: str) -> str:
    """The URL ``Path(path).as_uri()`` gives an absolute path, at a tenth of its cost
    (most paths need no quoting: they are checked, not quoted)."""
    if _PLAIN_PATH(path):
        return "file://" + path
    return "file://" + quote_from_bytes(os.fsencode(path))


def walk(directory: str, real_root: str) -> Iterator[File]:
    """Every regular file under ``directory`` (a real path inside ``real_root``, recursively,
    in name order) whose real path is inside ``real_root``, as ``(path, size, mtime_ns)``.

    One directory listing per directory and one ``lstat`` per file: a directory reached
    without following links is inside the root, so only linked files are resolved (a
    listing of 100,000 files spent most of its time resolving every path). Each
    directory is read by the C scanner without the interpreter's lock where it was built
    (:data:`ACCELERATED`; a walk of 100,000 files then costs little more than its system
    calls), by :func:`_scan` otherwise."""
    inside = real_root.rstrip(os.sep) + os.sep
    scan = _scan if _scandir is None else _scandir.scan
    pending = [directory]
    while pending:
        try:
            files, below = scan(pending.pop(), inside)
        except OSError:
            continue  # vanished, or not readable
        yield from files
        pending.extend(reversed(below))


def _scan(parent: str, inside: str) -> tuple[list[File], list[str]]:
    """The regular files (path, size, mtime_ns) and the directories of ``parent``, in name
    order; a symlink only when it resolves, inside the root, to a regular file (see
    ``_scandir.c``, which does the same)."""
    with os.scandir(parent) as found:
        entries = sorted(found, key=_name)
    files: list[File] = []
    below: list[str] = []
    for entry in entries:
        try:
            if entry.is_symlink():
                if not os.path.realpath(entry.path).startswith(inside):
                    continue
                status = os.stat(entry.path)  # linked directories are not descended into
                if not stat.S_ISREG(status.st_mode):
                    continue
            elif entry.is_dir(follow_symlinks=False):
                below.append(entry.path)
                continue
            elif entry.is_file(follow_symlinks=False):
                status = entry.stat(follow_symlinks=False)
            else:
                continue  # a FIFO, a socket, a device
        except OSError:
            continue  # vanished, or a dangling link
        files.append((entry.path, status.st_size, status.st_mtime_ns))
    return files, below


def take(entries: Iterator[T], count: int = 1000) -> list[T]:
    """The next ``count`` entries (fewer at the end), for handing a walk across threads in chunks."""
    return list(islice(entries, count))


def etag(status: os.stat_result) -> str:
    """The ETag obstore's local store gives a file (kept, so that items keep theirs)."""
    micros = max(0, status.st_mtime_ns // 1000)
    return f'"{status.st_ino:x}-{micros:x}-{status.st_size:x}"'


class NotCached(Exception):
    """The bytes asked of a local file are not all in the page cache: reading them would
    wait for the disk (not an ``OSError``, so that no prober takes it for a failed read)."""


def read_range(path: str, start: int, end: int, url: str, *, cached_only: bool = False) -> Fetched:
    """Bytes ``start`` to ``end - 1`` of the regular file at ``path`` (fewer at its end,
    none past it), with its size and ETag; errors name ``url``. ``cached_only``: raise
    :class:`NotCached` instead of waiting for the disk (where that cannot be told, as
    on a file system without ``RWF_NOWAIT``, too)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise ObjectNotFound(url) from exc
    except PermissionError as exc:
        raise AccessDenied(url) from exc
    except OSError as exc:
        raise StorageError(f"{redact(url)}: the file cannot be read ({exc.strerror})") from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ObjectNotFound(url)
        wanted = min(end, status.st_size) - start
        if cached_only and wanted > 0:
            data = _read_cached(fd, wanted, start, url)
        else:
            data = os.pread(fd, wanted, start) if wanted > 0 else b""
        while 0 < len(data) < wanted:  # a short read (rare on files): go on until the end or EOF
            more = os.pread(fd, wanted - len(data), start + len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        raise StorageError(f"{redact(url)}: the file cannot be read ({exc.strerror})") from exc
    finally:
        os.close(fd)
    return Fetched(data, status.st_size, None, etag(status))


def _read_cached(fd: int, wanted: int, start: int, url: str) -> bytes:
    if _NOWAIT is None:
        raise NotCached(url)
    buffer = bytearray(wanted)
    try:
        got = os.preadv(fd, [buffer], start, _NOWAIT)
    except BlockingIOError:
        raise NotCached(url) from None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot tell
            raise NotCached(url) from None
        raise
    if got != wanted:  # a part is on the disk (or the file was cut meanwhile): read it again, waiting
        raise NotCached(url)
    return bytes(buffer)


class CachedFirst:
    """The ranged reads of one file for a :class:`~accessio.storage.reader.RangedReader`,
    the first of them ``cached_only`` (the first block: every later read of a probe is
    rare, and waits for the disk when it must)."""

    def __init__(self, path: str, url: str) -> None:
        self.path, self.url, self._first = path, url, True

    def __call__(self, start: int, end: int) -> Fetched:
        cached_only, self._first = self._first, False
        return read_range(self.path, start, end, self.url, cached_only=cached_only)
