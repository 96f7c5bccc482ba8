"""A real ``accessio serve`` on 127.0.0.1 for the tests that need one (the SDK, races).

``start_server(catalog)`` runs the command in a process of its own on a free port and
waits until it answers; ``stop()`` sends SIGTERM (a graceful stop) and waits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return int(self.process.returncode)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_server(
    catalog: str, log: Path, *extra: str, env: dict[str, str] | None = None, new_session: bool = False
) -> LiveServer:
    """``new_session``: the server and its worker processes in a process group of their
    own, which a test can kill at once (as a machine crash would)."""
    port = free_port()
    handle = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "accessio", "serve", "--port", str(port), "--catalog", catalog, *extra],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=new_session,
    )
    handle.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"accessio serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{url}/schema/openapi.json", timeout=2)
            return LiveServer(url, process, log)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"accessio serve did not answer in 60 s:\n{log.read_text()}")
