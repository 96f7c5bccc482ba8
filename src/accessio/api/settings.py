"""The server's settings: one value object, built at the entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from accessio.service.executor import ExecutorSettings
from accessio.service.webhooks import WebhookSettings


@dataclass(frozen=True)
class ServerSettings:
    """How ``accessio serve`` runs (every field has a flag of the same name)."""

    catalog: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # The URL clients reach the server at (signed file URLs are built on it); by
    # default the URL each request came in on.
    public_url: str | None = None
    max_body_bytes: int = 256 * 1024 * 1024  # request bodies over this get 413
    max_upload_bytes: int = 5 * 1024 * 1024 * 1024  # one uploaded file (PUT to a signed upload URL)
    rate_limit: float = 100.0  # requests per second per token (0: off)
    rate_burst: int = 300  # requests a token may make at once before the rate applies
    failed_auth_rate: float = 5.0  # requests with a bad token one client address may make per second (0: off)
    cors_origins: tuple[str, ...] = ()  # CORS is off unless origins are given
    long_poll_max_s: float = 60.0  # the longest a long-poll is held
    sign_ttl_s: int = 3600  # signed URLs handed out by listings
    tls_terminated: bool = False  # a TLS terminator (reverse proxy) sits in front
    thumbnail_dir: str | None = None  # the thumbnails' disk cache (default: beside a SQLite catalog)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)  # how deliveries are sent and retried
