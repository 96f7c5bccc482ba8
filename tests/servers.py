"""Real servers on 127.0.0.1 for storage tests: moto (S3), Azurite (Azure Blob), a tiny web server.

Import the fixtures a module needs explicitly::

    from tests.servers import azurite, moto_s3, web_server  # noqa: F401

* ``moto_s3`` (session): moto's S3 in server mode, on a free port, behind a WSGI layer that
  logs every request (method, path, query, Range), so tests can count requests and prove
  that a key was never fetched. Fails, never skips, when it cannot start.
* ``azurite`` (session): ``azurite-blob`` from ``.test-tools`` (``npm install --prefix
  .test-tools azurite``). Skips only when ``node`` is missing; fails when Azurite is not
  installed or does not start.
* ``web_server`` (per test): ``http.server`` in a thread with files (Range supported) and
  redirects, logging requests; ``web_server_factory`` binds more of them (other addresses).
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / ".test-tools" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (documented by Microsoft; not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
MOTO_KEY_ID, MOTO_SECRET = "testing-key-id", "testing-secret"


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: str
    range: str | None


class _RequestLog:
    """WSGI middleware: remembers every request before moto answers it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[Logged] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, path, query = environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
        entry = Logged(method, path, query, environ.get("HTTP_RANGE"))
        with self._lock:
            self.requests.append(entry)
        return self.app(environ, start_response)


@dataclass
class MotoS3:
    endpoint: str
    log: _RequestLog
    client: Any

    def requests(self, *, path: str | None = None, method: str | None = None) -> list[Logged]:
        """Requests seen since the last ``clear()``, optionally only those for ``path`` / ``method``."""
        return [r for r in self.log.requests if (path is None or r.path == path) and (method in (None, r.method))]

    def clear(self) -> None:
        self.log.requests.clear()

    def bucket(self, name: str) -> None:
        existing = {b["Name"] for b in self.client.list_buckets()["Buckets"]}
        if name not in existing:
            self.client.create_bucket(Bucket=name)

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.bucket(bucket)
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server on 127.0.0.1 (see the module docstring)."""
    try:  # imported here so that a missing test extra fails this fixture with a clear message
        import boto3  # noqa: PLC0415
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        log = _RequestLog(DomainDispatcherApplication(create_backend_app))
        server = make_server("127.0.0.1", 0, log, threaded=True, request_handler=MotoRequestHandler)
    except Exception as exc:  # any failure to start is a test failure, never a skip
        pytest.fail(f"moto S3 server could not start (install the test extras: pip install -e '.[test]'): {exc!r}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=MOTO_KEY_ID,
        aws_secret_access_key=MOTO_SECRET,
    )
    yield MotoS3(endpoint, log, client)
    client.close()
    server.shutdown()
    server.server_close()
    thread.join(10)


@dataclass
class Azurite:
    endpoint: str
    account: str
    key: str
    service: Any

    def put(self, container: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        from azure.storage.blob import ContentSettings  # noqa: PLC0415 - a test extra, needed only here

        client = self.service.get_container_client(container)
        if not client.exists():
            client.create_container()
        settings = ContentSettings(content_type=content_type)
        client.upload_blob(name, data, overwrite=True, content_settings=settings)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service on 127.0.0.1 (see the module docstring)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed, so Azurite cannot run")
    if not AZURITE_BIN.exists():
        pytest.fail(f"Azurite is not installed: run `npm install --prefix .test-tools azurite` in {ROOT}")
    port = free_port()
    location = tmp_path_factory.mktemp("azurite")
    command = [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location)]
    command += ["--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"]
    output = location / "azurite.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, output)
        from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - a test extra, needed only here

        endpoint = f"http://127.0.0.1:{port}"
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
        )
        service = BlobServiceClient.from_connection_string(connection)
        yield Azurite(endpoint, AZURITE_ACCOUNT, AZURITE_KEY, service)
        service.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], output: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Azurite exited with {process.returncode}: {output.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"Azurite did not listen on 127.0.0.1:{port} within {timeout_s:.0f}s")


@dataclass
class WebServer:
    """A tiny web server: ``files[path] = (bytes, content_type)``, ``redirects[path] = location``."""

    host: str
    port: int
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    honour_ranges: bool = True

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path


def _handler(site: WebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            site.requests.append((self.path, self.headers.get("Range")))
            if self.path in site.redirects:
                self._send(302, b"", {"Location": site.redirects[self.path]})
            elif self.path in site.files:
                self._file(*site.files[self.path])
            else:
                self._send(404, b"not found", {"Content-Type": "text/plain"})

        def _file(self, data: bytes, content_type: str) -> None:
            headers = {"Content-Type": content_type, "ETag": f'"{len(data)}-{hash(data) & 0xFFFF:x}"'}
            wanted = self.headers.get("Range")
            if not (wanted and site.honour_ranges and wanted.startswith("bytes=")):
                self._send(200, data, headers)
                return
            first, _, last = wanted[6:].partition("-")
            start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
            if start >= len(data):
                self._send(416, b"", {**headers, "Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            self._send(206, data[start : end + 1], headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def web_server_factory() -> Iterator[Callable[[str], WebServer]]:
    """Start web servers bound to a given loopback address; all are stopped after the test."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(host: str = "127.0.0.1") -> WebServer:
        site = WebServer(host, 0)
        server = ThreadingHTTPServer((host, 0), _handler(site))
        server.daemon_threads = True
        site.port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        running.append((server, thread))
        return site

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def web_server(web_server_factory: Callable[[str], WebServer]) -> WebServer:
    """One web server on 127.0.0.1."""
    return web_server_factory("127.0.0.1")
