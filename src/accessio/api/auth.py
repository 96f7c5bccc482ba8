"""Who is calling: ``Authorization: Bearer <token>`` to a :class:`Principal`, and a
per-token rate limit.

A token's check is kept for a few seconds per process (``CACHE_S``): a request does
not cost a catalog read, and a revoked token stops working within that time (at
once in the process that revoked it). ``last_used_at`` is written at most once a
minute per token.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

import sqlalchemy as sa

from accessio.api.errors import RateLimited, Unauthenticated
from accessio.catalog import accounts
from accessio.service import Principal

CACHE_S = 5.0
TOUCH_S = 60.0
FAILED_BURST = 20  # requests with a bad token a client address may make at once


@dataclass
class _Cached:
    principal: Principal
    token_id: str
    checked: float
    touched: float


class TokenBucket:
    """``rate`` per second, up to ``burst`` at once, per key."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one; 0 when allowed, else the seconds until one is free."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget idle keys rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return (1 - tokens) / self.rate


class Authenticator:
    def __init__(self, engine: sa.Engine, *, rate: float, burst: int, failed_rate: float) -> None:
        self._engine = engine
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self.limits = TokenBucket(rate, burst)
        self.failures = TokenBucket(failed_rate, FAILED_BURST)

    def forget(self, token_hash: str | None = None) -> None:
        """Drop cached checks (one token's, or all): after a revocation or a role change."""
        with self._lock:
            if token_hash is None:
                self._cache.clear()
            else:
                self._cache.pop(token_hash, None)

    def principal(self, authorization: str | None, client: str) -> Principal:
        """The principal of a request's ``Authorization`` header; 401 or 429 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            self._refuse(client, "an API token is needed: send Authorization: Bearer <token>")
        key = accounts.hash_token(token)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or now - cached.checked > CACHE_S:
            found = self._check(token, key, now, cached)
            if found is None:
                self._refuse(client, "the API token is not valid (unknown, revoked or expired)")
            cached = found
        wait = self.limits.take(cached.token_id)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))
        return cached.principal

    def _refuse(self, client: str, message: str) -> NoReturn:
        """401, or 429 once a client address has failed too often (guessing tokens)."""
        wait = self.failures.take(client)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))
        raise Unauthenticated(message)

    def _check(self, token: str, key: str, now: float, cached: _Cached | None) -> _Cached | None:
        moment = datetime.now(UTC)
        with self._engine.connect() as conn:
            found = accounts.user_of_token(conn, token, moment)
        if found is None:
            with self._lock:
                self._cache.pop(key, None)
            return None
        user, record = found
        touched = cached.touched if cached is not None else 0.0
        if now - touched > TOUCH_S:
            with self._engine.begin() as conn:
                accounts.touch_token(conn, record.id, moment)
            touched = now
        fresh = _Cached(Principal(user.id, user.name, user.is_admin), record.id, now, touched)
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = fresh
        return fresh
