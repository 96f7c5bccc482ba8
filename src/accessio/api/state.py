"""What every request handler reaches: the catalog, the executor, signing, settings;
and the acting principal, as a dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

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
