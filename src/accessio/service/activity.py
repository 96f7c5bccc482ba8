"""Requests first: background jobs yield to the requests a server answers.

A server's processes count the requests they receive on an *activity board*, a small
shared-memory file named after the catalog (one counter per process, so no process
waits on another). A job the server works reads the board between chunks through a
:class:`Pacer`:

- while the server is quiet (fewer than ``quiet_rate`` requests per second), the job
  runs at full speed, in full-size chunks;
- while the server answers more, the job works small chunks and rests between them,
  keeping ``share`` of the time (10 % by default), so that it still finishes under a
  steady load and lists keep their speed. It picks up full speed as soon as the
  requests stop.

Lowering the worker's CPU priority (``SCHED_IDLE``) alone was measured not to be
enough: listing lost 40 % of its rate while a job wrote (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("accessio.activity")

SLOTS = 128  # counters on a board: a process counts in slot ``pid % SLOTS``
BUSY_CHUNK_UNITS = 2_000  # units per chunk while the server is busy (a short step between rests)
_CHECK_S = 0.1  # how often a resting job looks whether the server went quiet


def board_path(catalog: str) -> Path:
    """Where the board of the servers of ``catalog`` lives (the same for every process
    that names the catalog the same way)."""
    digest = hashlib.sha256(catalog.encode()).hexdigest()[:20]
    shared = Path("/dev/shm")
    return (shared if shared.is_dir() else Path(tempfile.gettempdir())) / f"accessio-{digest}.activity"


class ActivityBoard:
    """The request counters of the processes serving one catalog."""

    def __init__(self, path: Path) -> None:
        size = SLOTS * 8
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._counts = memoryview(self._map).cast("Q")
        self._slot = os.getpid() % SLOTS
        self.path = path

    @classmethod
    def for_catalog(cls, catalog: str) -> ActivityBoard | None:
        """The catalog's board, or None (jobs then run unpaced) where shared memory
        cannot be had."""
        path = board_path(catalog)
        try:
            return cls(path)
        except OSError as exc:
            log.warning("no activity board at %s (%s): jobs will not yield to requests", path, exc.strerror)
            return None

    def record(self) -> None:
        """Count one request of this process."""
        slot = self._slot
        self._counts[slot] = (self._counts[slot] + 1) & 0xFFFF_FFFF_FFFF_FFFF

    def requests(self) -> int:
        """Requests counted by every process so far (modulo 2**64)."""
        return sum(self._counts) & 0xFFFF_FFFF_FFFF_FFFF

    def close(self) -> None:
        self._counts.release()
        self._map.close()


class Pacer:
    """Paces one job against a board (see the module docstring). Not thread-safe: one
    per running job."""

    def __init__(
        self,
        board: ActivityBoard,
        *,
        share: float = 0.1,
        quiet_rate: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"a job's share of a busy server must be in (0, 1], not {share}")
        self.board, self.share, self.quiet_rate, self._clock = board, share, quiet_rate, clock
        self._seen_at, self._seen = clock(), board.requests()
        self._working_since = self._seen_at
        self.busy: bool | None = None  # not known before a first look over a long enough time
        self.rested_s = 0.0  # time spent resting, for the job's log

    def _rate(self) -> float:
        """Requests per second since the last look."""
        now, seen = self._clock(), self.board.requests()
        elapsed = now - self._seen_at
        rate = ((seen - self._seen) % 2**64) / elapsed if elapsed > 0 else 0.0
        self._seen_at, self._seen = now, seen
        return rate

    def chunk_units(self, full: int) -> int:
        """How many units the next chunk takes: small ones while the server is busy."""
        if self.busy is None and self._clock() - self._seen_at >= _CHECK_S / 2:
            self.busy = self._rate() >= self.quiet_rate  # the first chunk: requests since the job began
        return min(full, BUSY_CHUNK_UNITS) if self.busy else full

    def pause(self, stop: threading.Event | None = None) -> None:
        """Between two chunks: rest while the server is busy, so that the work since the
        last pause is at most ``share`` of the time. Returns early when the server goes
        quiet or ``stop`` is set."""
        began = self._clock()
        worked = began - self._working_since
        self.busy = self._rate() >= self.quiet_rate
        if self.busy:
            rest_until = began + worked * (1 - self.share) / self.share
            while (left := rest_until - self._clock()) > 0:
                step = min(_CHECK_S, left)
                if stop is not None:
                    if stop.wait(step):
                        break
                else:
                    time.sleep(step)
                if self._rate() < self.quiet_rate:
                    self.busy = False
                    break
        now = self._clock()
        self.rested_s += now - began
        self._working_since = now
