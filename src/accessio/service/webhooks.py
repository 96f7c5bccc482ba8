"""Sending webhook deliveries: signed POSTs, retried with backoff, to addresses the
integrations' rules allow (docs/webhooks.md is the receiver's side of it).

Each attempt POSTs the delivery's JSON (the same bytes every time) with

    Content-Type: application/json
    Accessio-Event: job.finished            (or sync.finished)
    Accessio-Delivery: <the delivery's id>  (receivers dedupe on it)
    Accessio-Attempt: <1, 2, ...>
    Accessio-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A 2xx answer delivers it. Anything else (another status, a redirect, no whole answer
within ``timeout_s``, a refused address) is a failed attempt: the next one comes after
``backoff_s`` doubled per attempt (at most ``backoff_max_s``), times a random factor
in [0.5, 1) so that receivers coming back are not hit by every sender at once; after
``max_attempts`` the delivery is ``failed`` (listed by ``accessio webhook deliveries``).

The connection goes through :class:`~accessio.storage.web.WebClient`: the host is
resolved and every address checked (:mod:`accessio.storage.addresses`) at every attempt,
and the socket connects to the checked address; loopback and private addresses only
for a webhook made with ``allow_private_network``. Nothing logged or recorded names the
URL (it may hold a token) or the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
import sqlalchemy as sa

from accessio.catalog import jobs as job_store
from accessio.catalog import webhooks as webhook_store
from accessio.storage.addresses import AddressPolicy, GuardedBackend
from accessio.storage.errors import AddressNotAllowed, StorageError
from accessio.storage.web import WebClient

log = logging.getLogger("accessio.webhooks")

SIGNATURE_HEADER = "Accessio-Signature"


@dataclass(frozen=True)
class WebhookSettings:
    """How deliveries are sent and retried."""

    timeout_s: float = 10.0  # one whole exchange: connecting, sending, the answer (name lookups: the system's)
    max_attempts: int = 10  # then the delivery is failed
    backoff_s: float = 15.0  # the wait after the first failed attempt; it doubles with each one
    backoff_max_s: float = 3600.0
    poll_s: float = 2.0  # how often a server looks for due deliveries
    batch: int = 32  # deliveries taken per look
    concurrency: int = 4  # deliveries sent at once by one process


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under the webhook's secret.

    >>> signature("whsec_x", 1700000000, b"{}")[:16]
    'be8cb8325f220244'
    """
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def backoff_s(attempts: int, settings: WebhookSettings, draw: Callable[[], float] = random.random) -> float:
    """The wait before the next attempt after ``attempts`` failed ones (jittered)."""
    base = min(settings.backoff_max_s, settings.backoff_s * 2 ** max(0, attempts - 1))
    return float(base * (0.5 + 0.5 * draw()))


@dataclass
class DeliveryReport:
    """What one round of sending did."""

    delivered: int = 0
    retrying: int = 0  # failed attempts with attempts left: pending again
    failed: int = 0  # failed attempts that were the last

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


class Deliverer:
    """Sends due deliveries from one process (any number may run at once: each delivery is claimed)."""

    def __init__(self, engine: sa.Engine, settings: WebhookSettings | None = None, holder: str | None = None) -> None:
        self.engine = engine
        self.settings = settings or WebhookSettings()
        self.holder = holder or job_store.lease_holder_id()
        self._clients: dict[bool, WebClient] = {}
        self._lock = threading.Lock()
        self._deadline = _Deadline()  # each sending thread's
        self.stopping = threading.Event()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _client(self, allow_private: bool) -> WebClient:
        with self._lock:
            if allow_private not in self._clients:
                policy = AddressPolicy(allow_private=allow_private)
                backend = _BoundedBackend(policy, self._deadline)
                timeout_s = self.settings.timeout_s
                self._clients[allow_private] = WebClient(policy, max_redirects=0, timeout_s=timeout_s, backend=backend)
            return self._clients[allow_private]

    def deliver_due(self, *, job_id: str | None = None, deadline: float | None = None) -> DeliveryReport:
        """Send what is due now, once each (of one job's deliveries when ``job_id`` is
        given), until none is left or ``deadline`` (``time.monotonic``) passes; failures
        are scheduled again. Returns what was done."""
        report = DeliveryReport()
        tried: set[str] = set()  # each once, even when its next attempt is due at once
        while not self.stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            now = datetime.now(UTC)
            with self.engine.connect() as conn:
                due = webhook_store.due(conn, now, self.settings.batch + len(tried), job_id=job_id)
            found = [delivery_id for delivery_id in due if delivery_id not in tried][: self.settings.batch]
            if not found:
                break
            tried.update(found)
            workers = min(self.settings.concurrency, len(found))
            with ThreadPoolExecutor(workers, thread_name_prefix="accessio-webhook") as pool:
                outcomes = list(pool.map(lambda d: self._deliver(d, deadline), found))
            for outcome in outcomes:
                if outcome is not None:
                    setattr(report, outcome, getattr(report, outcome) + 1)
            if all(outcome is None for outcome in outcomes):
                break  # every one was taken by another process, or the time is up
        return report

    def _deliver(self, delivery_id: str, deadline: float | None) -> str | None:
        """Claim one delivery and send it; the report field it counts in (``None``: not sent)."""
        if self.stopping.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return None
        hold_s = self.settings.timeout_s + 30  # an exchange never lasts longer than the timeout
        with self.engine.begin() as conn:
            outgoing = webhook_store.claim(conn, delivery_id, self.holder, datetime.now(UTC), hold_s)
        if outgoing is None:
            return None
        code, error = self._send(outgoing)
        attempts = outgoing.attempts + 1
        now = datetime.now(UTC)
        later: datetime | None = None
        if error is None:
            status, outcome = "delivered", "delivered"
        elif attempts >= self.settings.max_attempts:
            status, outcome = "failed", "failed"
        else:
            status, outcome = "pending", "retrying"
            later = now + timedelta(seconds=backoff_s(attempts, self.settings))
        with self.engine.begin() as conn:
            webhook_store.record_attempt(
                conn, delivery_id, self.holder, now=now, status=status, status_code=code, error=error,
                next_attempt_at=later,
            )  # fmt: skip
        log.info("webhook %s, delivery %s, attempt %d: %s", outgoing.webhook_id, delivery_id, attempts,
                 error or f"delivered (HTTP {code})")  # fmt: skip
        return outcome

    def _send(self, outgoing: webhook_store.Outgoing) -> tuple[int | None, str | None]:
        """One POST: the answer's status, and what went wrong (``None``: delivered)."""
        timestamp = int(time.time())
        headers = [
            (b"Content-Type", b"application/json"),
            (b"Accessio-Event", outgoing.event.encode()),
            (b"Accessio-Delivery", outgoing.id.encode()),
            (b"Accessio-Attempt", str(outgoing.attempts + 1).encode()),
            (
                SIGNATURE_HEADER.encode(),
                f"t={timestamp},v1={signature(outgoing.secret, timestamp, outgoing.payload)}".encode(),
            ),
        ]
        client = self._client(outgoing.allow_private_network)
        self._deadline.at = time.monotonic() + self.settings.timeout_s  # the whole exchange, connection included
        try:
            code, _ = client.post(outgoing.url, outgoing.payload, headers)
        except AddressNotAllowed as exc:
            return None, f"refused: {exc.host} resolves to {exc.address} ({exc.reason})"
        except StorageError as exc:
            return None, exc.message
        finally:
            self._deadline.at = None
        if 200 <= code < 300:
            return code, None
        if 300 <= code < 400:
            return code, f"HTTP {code}: redirects are not followed"
        return code, f"HTTP {code}"


class _Deadline(threading.local):
    """When the current thread's exchange must end (``time.monotonic``; ``None``: no bound)."""

    at: float | None = None


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose every read and write waits no later than the thread's deadline:
    a receiver that trickles its answer a byte at a time cannot hold a sender longer."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def _timeout(self, timeout: float | None) -> float | None:
        if self._deadline.at is None:
            return timeout
        left = self._deadline.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the exchange took longer than its deadline")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._timeout(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._timeout(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        upgraded = self._inner.start_tls(ssl_context, server_hostname, self._timeout(timeout))
        return _BoundedStream(upgraded, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend(GuardedBackend):
    """The guarded backend (every address checked), with each exchange bounded as a whole."""

    def __init__(self, policy: AddressPolicy, deadline: _Deadline) -> None:
        super().__init__(policy)
        self.deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _BoundedStream(stream, self.deadline)


class WebhookPump:
    """A server's background sender: every ``poll_s`` seconds, what is due."""

    def __init__(self, engine: sa.Engine, settings: WebhookSettings, holder: str) -> None:
        self.deliverer = Deliverer(engine, settings, holder)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="accessio-webhooks")

    async def stop(self) -> None:
        """Stop taking deliveries; one being sent finishes (it is bounded by the timeout)."""
        self.deliverer.stopping.set()
        self._wake.set()
        if self._task is not None:
            _done, pending = await asyncio.wait({self._task}, timeout=self.deliverer.settings.timeout_s + 5)
            for task in pending:
                task.cancel()
        self.deliverer.close()

    async def _run(self) -> None:
        while not self.deliverer.stopping.is_set():
            try:
                await asyncio.to_thread(self.deliverer.deliver_due)
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                log.warning("webhook deliveries failed to run: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.deliverer.settings.poll_s)
