"""Real parts for the Celery workers' tests and benchmark, on 127.0.0.1.

* :class:`RedisServer`: Debian's ``redis-server`` (``scripts/test.sh`` installs it) on a
  free port with a temporary directory, append-only persistence on (as a deployment
  keeps it), restartable on the same port and data.
* :class:`LatencyProxy`: an asyncio TCP proxy that holds every piece of a request for
  ``delay_s`` (20 ms) before passing it on, so that jobs are bound by the network as
  real buckets are.
* :class:`Workers`: ``accessio worker`` processes, each in a session of its own (so that
  ``kill -9`` takes its pool processes too), logging to files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESSIO = str(Path(sys.executable).parent / "accessio")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f}s")


class RedisServer:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server is not installed: run scripts/test.sh (it installs Debian's redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
                   "--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode", "yes",
                   "--logfile", str(self.directory / "redis.log")]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(self.port, self.process, "redis-server")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # redis-server writes its data and exits on SIGTERM
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def restart(self, down_s: float = 1.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


class LatencyProxy:
    """``127.0.0.1:port`` -> ``127.0.0.1:target``, every piece of a request held ``delay_s``."""

    def __init__(self, target_port: int, delay_s: float = 0.02) -> None:
        self.target_port = target_port
        self.delay_s = delay_s
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LatencyProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the latency proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0, backlog=512))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay_s: float) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    if delay_s:
                        await asyncio.sleep(delay_s)
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, self.delay_s), pipe(up_reader, writer, 0))


@dataclass
class Workers:
    """``accessio worker`` processes on one catalog and broker."""

    catalog: str
    broker: str
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, concurrency: int = 1, *extra: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "ACCESSIO_CATALOG": self.catalog, "ACCESSIO_BROKER_URL": self.broker,
               "ACCESSIO_WORKER_BEAT_S": "1", "ACCESSIO_RESEND_S": "5", **self.env}  # fmt: skip
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [ACCESSIO, "worker", "--concurrency", str(concurrency), "--name", f"{name}@test", "--loglevel", "WARNING",
             *extra],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """``kill -9`` of the worker and its pool processes."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            del self.processes[name]

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")
