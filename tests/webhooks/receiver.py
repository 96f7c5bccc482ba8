"""A real webhook receiver on 127.0.0.1: ``http.server`` in a thread that records every
request and answers from a script of statuses (the last one repeats)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived


@dataclass
class Receiver:
    port: int
    answers: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0  # how long each answer takes
    trickle: bool = False  # answer a byte every 50 ms for 3 s (a receiver that holds its sender)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def next_status(self) -> int:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@contextmanager
def receiving(answers: list[int] | None = None, delay_s: float = 0.0, trickle: bool = False) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(server.server_address[1], answers or [200], delay_s, trickle)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body, time.monotonic()))
            time.sleep(receiver.delay_s)
            if receiver.trickle:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    for _ in range(60):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.05)
                return
            status = receiver.next_status()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url("/redirected"))
            self.send_header("Content-Length", "2")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a sender that gave up waiting
                self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """The receiver's check, as docs/webhooks.md gives it (written here again on purpose:
    the test holds the sender to the documented scheme, not to its own code)."""
    fields = dict(part.split("=", 1) for part in headers["Accessio-Signature"].split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - timestamp) <= tolerance_s and hmac.compare_digest(expected, fields["v1"])
