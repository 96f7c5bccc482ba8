"""What every request handler reaches: the catalog, the executor, signing, settings;
and the acting principal, as a dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import State

from accessio.api.auth import Authenticator
from accessio.api.settings import ServerSettings
from accessio.service import Accessio, Principal
from accessio.service.executor import Executor
from accessio.service.signing import UrlSigner


@dataclass
class Server:
    """The server's parts, made once by the app factory."""

    app: Accessio
    settings: ServerSettings
    executor: Executor
    signer: UrlSigner
    auth: Authenticator

    def base_url(self, request: Request[Any, Any, Any]) -> str:
        """Where clients reach this server (for the signed URLs it hands out)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")


def server_of(state: State) -> Server:
    server = state["server"]
    assert isinstance(server, Server)
    return server


async def provide_server(state: State) -> Server:
    return server_of(state)


def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    """The caller, from its bearer token (401 without a valid one, 429 over its rate)."""
    client = request.client.host if request.client else "unknown"
    return server_of(state).auth.principal(request.headers.get("authorization"), client)
