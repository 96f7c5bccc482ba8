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
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import NamedTuple

from accessio.storage.errors import AccessDenied, ObjectNotFound, StorageError, redact
from accessio.storage.reader import Fetched

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


class LocalEntry(NamedTuple):
    path: str
    size: int
    modified: datetime


def walk(directory: str, real_root: str) -> Iterator[LocalEntry]:
    """Every regular file under ``directory`` (a real path inside ``real_root``, recursively,
    in name order) whose real path is inside ``real_root``.

    One ``scandir`` per directory and one ``lstat`` per file: a directory reached without
    following links is inside the root, so only linked files are resolved (a listing of
    100,000 files spent most of its time resolving every path)."""
    inside = real_root.rstrip(os.sep) + os.sep
    pending = [directory]
    while pending:
        parent = pending.pop()
        try:
            with os.scandir(parent) as found:
                entries = sorted(found, key=lambda entry: entry.name)
        except OSError:
            continue  # vanished, or not readable
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
            yield LocalEntry(entry.path, status.st_size, datetime.fromtimestamp(status.st_mtime, UTC))
        pending.extend(reversed(below))


def take(entries: Iterator[LocalEntry], count: int = 1000) -> list[LocalEntry]:
    """The next ``count`` entries (fewer at the end), for handing a walk across threads in chunks."""
    return list(islice(entries, count))


def etag(status: os.stat_result) -> str:
    """The ETag obstore's local store gives a file (kept, so that items keep theirs)."""
    micros = max(0, status.st_mtime_ns // 1000)
    return f'"{status.st_ino:x}-{micros:x}-{status.st_size:x}"'


def read_range(path: str, start: int, end: int, url: str) -> Fetched:
    """Bytes ``start`` to ``end - 1`` of the regular file at ``path`` (fewer at its end,
    none past it), with its size and ETag; errors name ``url``."""
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
