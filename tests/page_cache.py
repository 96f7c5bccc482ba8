"""Taking files out of the page cache, for tests of reads that tell cached files from files
on the disk. Whether a page is cached is asked with ``mincore``, which reads nothing (a
read with ``RWF_NOWAIT`` that finds nothing starts the file's readahead)."""

from __future__ import annotations

import ctypes
import mmap
import os
import time
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def cached_pages(path: Path) -> int:
    """How many of the file's pages the page cache holds."""
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            vector = ctypes.create_string_buffer(pages)
            if _libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return sum(byte & 1 for byte in vector.raw)
        finally:
            _libc.munmap(address, size)
    finally:
        os.close(fd)


def evict(path: Path, tries: int = 50) -> bool:
    """Take the file out of the page cache (written back first, so that its pages can go);
    whether it left. The kernel may keep pages a while (in a CPU's LRU batch): retried."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        for _ in range(tries):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            if cached_pages(path) == 0:
                return True
            time.sleep(0.02)
    finally:
        os.close(fd)
    return False


def evictions_work(scratch: Path) -> bool:
    """Whether files can be taken out of the page cache here (writes ``scratch``)."""
    if not hasattr(os, "RWF_NOWAIT"):
        return False
    scratch.write_bytes(bytes(range(256)) * 64)
    return evict(scratch)
