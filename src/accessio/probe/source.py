"""The reader a prober sees: positional reads of the object, counted against the probe's limits.

Every prober reads through a :class:`Source`, never the caller's file directly, so one
place enforces the byte budget and the deadline, and a short read at the end of the
object is told apart from a corrupt file. The first ``head_size`` bytes are read once
and kept: every format's sniffing and most headers fit in them, and with a
:class:`~accessio.storage.reader.RangedReader` of 64 KiB blocks they are its first
request.
"""

from __future__ import annotations

import io
import time
from typing import Protocol

from accessio.probe.errors import ProbeCorrupt, ProbeError, ProbeTimeout, ProbeTooLarge
from accessio.probe.info import ProbeLimits


class BinaryReader(Protocol):
    """What a probe needs of a file: ``read``, ``seek`` and ``tell`` (``RangedReader``, an open file, BytesIO)."""

    def read(self, size: int = -1, /) -> bytes | None: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


class Source:
    """Positional, budgeted reads over a seekable binary reader."""

    def __init__(self, reader: BinaryReader, limits: ProbeLimits, url: str = "") -> None:
        self.limits = limits
        self.url = url
        self.bytes_asked = 0
        self._reader = reader
        self._deadline = time.monotonic() + limits.timeout_s
        self._head: bytes | None = None
        try:
            sized = getattr(reader, "size", None)
            self.size = int(sized()) if callable(sized) else reader.seek(0, io.SEEK_END)
        except OSError as exc:
            raise ProbeError(f"the object cannot be read: {exc}", url=url) from exc

    def check_time(self) -> None:
        """Fail if the probe is past its deadline (call it inside loops that may run long)."""
        if time.monotonic() > self._deadline:
            raise ProbeTimeout(f"the probe took longer than {self.limits.timeout_s:g} s", url=self.url)

    def head(self) -> bytes:
        """The first ``head_size`` bytes (fewer for a smaller object), read once."""
        if self._head is None:
            self._head = self._fetch(0, min(self.limits.head_size, self.size))
        return self._head

    def read(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes at ``offset``: fewer only at the end of the object."""
        head = self._head
        if head is not None and offset >= 0 and count >= 0 and offset + count <= len(head):
            return head[offset : offset + count]  # the common case, first: parsers read their headers here
        if offset < 0 or count < 0:
            raise ProbeCorrupt(f"a read at offset {offset} of {count} bytes", url=self.url)
        count = max(0, min(count, self.size - offset))
        head = self.head()
        if offset + count <= len(head):
            return head[offset : offset + count]
        return self._fetch(offset, count)

    def exact(self, offset: int, count: int, what: str) -> bytes:
        """Exactly ``count`` bytes at ``offset``, or ProbeCorrupt naming ``what`` was cut off."""
        data = self.read(offset, count)
        if len(data) != count:
            raise self.corrupt(f"{what} is cut off at byte {self.size} (truncated file)")
        return data

    def tail(self, count: int) -> tuple[int, bytes]:
        """The last ``count`` bytes (fewer for a smaller object) and the offset they start at."""
        start = max(0, self.size - count)
        return start, self.read(start, self.size - start)

    def corrupt(self, message: str) -> ProbeCorrupt:
        return ProbeCorrupt(message, url=self.url)

    def too_large(self, message: str) -> ProbeTooLarge:
        return ProbeTooLarge(message, url=self.url)

    def _fetch(self, offset: int, count: int) -> bytes:
        self.check_time()
        if self.bytes_asked + count > self.limits.max_bytes:
            raise ProbeTooLarge(
                f"probing needs more than {self.limits.max_bytes:,} bytes of the object (the probe's budget)",
                url=self.url,
            )
        self.bytes_asked += count
        chunks: list[bytes] = []
        try:
            self._reader.seek(offset)
            remaining = count
            while remaining > 0:
                chunk = self._reader.read(remaining)
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError as exc:
            raise ProbeError(f"the object cannot be read: {exc}", url=self.url) from exc
        return b"".join(chunks)
