"""``accessio serve --workers 2``: each worker process listens on a socket of its own
(SO_REUSEPORT), so connections opened together spread over the processes instead of
all landing on the one that woke first."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.api.live import start_server

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _established_to(port: int) -> set[str]:
    """The inode of every established TCP connection whose local port is ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(inode)
    return found


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(child) for child in (task / "children").read_text().split()]
    return kids


async def _hold_connections(port: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for reader, writer in await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(count))):
        writer.write(b"GET /schema/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")  # accepted and answered: the connection is in a worker
        writers.append(writer)
    return writers


def test_connections_opened_together_spread_over_the_workers(tmp_path: Path) -> None:
    server = start_server(str(tmp_path / "catalog.db"), tmp_path / "server.log", "--workers", "2")
    try:
        port = int(server.url.rsplit(":", 1)[1])
        workers = _children(server.process.pid)

        async def tries() -> list[list[int]]:
            splits = []
            for _ in range(4):
                writers = await _hold_connections(port, 32)
                connections = _established_to(port)
                splits.append(sorted(len(_socket_inodes(pid) & connections) for pid in workers))
                for writer in writers:
                    writer.close()
                await asyncio.sleep(0.2)
            return splits

        splits = asyncio.run(tries())
    finally:
        server.stop()
    assert all(sum(split) == 32 for split in splits), splits  # every connection is held by a worker
    # with one shared socket, 3 tries of 8 put all 16 connections on one process; with a
    # socket each, the kernel hashes connections over both (32 on one: a chance of 2**-31)
    assert all(sum(1 for held in split if held) == 2 for split in splits), splits
