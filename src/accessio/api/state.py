"""What every request handler reaches: the catalog, the executor, signing, settings;
and the acting principal, as a dependency."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import sqlalchemy as sa
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from accessio.api.auth import Authenticator, TokenBucket
from accessio.api.settings import ServerSettings
from accessio.catalog import accounts
from accessio.catalog.schema import jobs
from accessio.service import Accessio, Principal
from accessio.service.executor import Executor
from accessio.service.signing import UrlSigner
from accessio.service.thumbnails import Thumbnails

# Encord's storage locations by provider (a local disk is held by the server itself:
# "encord" is the closest of the SDK's words)
_LOCATIONS = {"s3": "s3", "gcp": "gcp", "azure": "azure", "s3Compatible": "s3Compatible", "http": "directAccess",
              "local": "encord"}  # fmt: skip
_LOCATIONS_S = 5.0  # how long the integrations' locations are kept
SIGN_INS_PER_MINUTE = 10


@dataclass
class Server:
    """The server's parts, made once by the app factory."""

    app: Accessio
    settings: ServerSettings
    executor: Executor
    signer: UrlSigner
    auth: Authenticator
    _owners: dict[str, str] = field(default_factory=dict)  # job id -> its owner's name (never changes)
    _locations: tuple[float, dict[str | None, str]] = (0.0, {})
    _thumbnails: Thumbnails | None = None
    # the web app's sign-in attempts: 10 a minute per client address and per user name
    sign_ins: TokenBucket = field(default_factory=lambda: TokenBucket(SIGN_INS_PER_MINUTE / 60, SIGN_INS_PER_MINUTE))

    def thumbnails(self) -> Thumbnails:
        """The thumbnail maker and its disk cache (``--thumbnail-dir``; beside a SQLite
        catalog, else in the user's cache directory)."""
        if self._thumbnails is None:
            self._thumbnails = Thumbnails(thumbnail_dir(self.settings.thumbnail_dir, self.app.catalog))
        return self._thumbnails

    def job_owners(self, job_ids: set[str]) -> dict[str, str]:
        """The names of the users who submitted these jobs ("operator" for the CLI's)."""
        missing = job_ids - self._owners.keys()
        if missing:
            with self.app.engine.connect() as conn:
                owner_of = dict(conn.execute(sa.select(jobs.c.id, jobs.c.owner_id).where(jobs.c.id.in_(missing))).all())
                names = accounts.user_names(conn, {o for o in owner_of.values() if o})
            if len(self._owners) > 100_000:
                self._owners.clear()
            self._owners.update({job: names.get(owner or "", "operator") for job, owner in owner_of.items()})
        return {job: self._owners[job] for job in job_ids if job in self._owners}

    def locations(self) -> dict[str | None, str]:
        """Each integration's storage location in Encord's words (kept a few seconds)."""
        made, found = self._locations
        if time.monotonic() - made > _LOCATIONS_S:
            found = {
                r.id: "directAccess" if r.access_mode == "directAccess" else _LOCATIONS[r.provider]
                for r in self.app.integrations()
            }
            self._locations = (time.monotonic(), found)
        return found

    def base_url(self, request: Request[Any, Any, Any]) -> str:
        """Where clients reach this server (for the signed URLs it hands out)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")


def thumbnail_dir(configured: str | None, catalog: str) -> Path:
    if configured:
        return Path(configured)
    if "://" not in catalog:
        return Path(catalog).expanduser().resolve().with_suffix(".thumbnails")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "accessio" / "thumbnails"


def server_of(state: State) -> Server:
    server = state["server"]
    assert isinstance(server, Server)
    return server


async def provide_server(state: State) -> Server:
    return server_of(state)


class TokenAuthentication(AbstractAuthenticationMiddleware):
    """Every API request is authenticated before anything else about it is looked at
    (its parameters included): 401 without a valid token, 429 over its rate."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        client = connection.client.host if connection.client else "unknown"
        server = server_of(connection.app.state)
        principal = server.auth.principal(connection.headers.get("authorization"), client)
        return AuthenticationResult(user=principal, auth=None)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The caller (authenticated by :class:`TokenAuthentication`)."""
    principal = request.scope.get("user")
    assert isinstance(principal, Principal)
    return principal


# How handlers ask for the two dependencies (named, as Litestar 3 requires).
ServerDep: TypeAlias = NamedDependency[Server]
Caller: TypeAlias = NamedDependency[Principal]
