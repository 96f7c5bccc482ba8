"""The ASGI app: ``create_app(settings)`` (no globals), Litestar on uvicorn.

/v2/public/...   Encord's public storage API (shared/encord-api.md), bearer tokens
/api/...         Accessio's own API (what Encord's has no words for), bearer tokens
/files/...       signed URLs of the server itself (the signature authorises)
/schema          the OpenAPI document of both APIs (/schema/openapi.json)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp, Receive, Scope, Send

import accessio
from accessio.api import errors
from accessio.api.auth import Authenticator
from accessio.api.encord_folders import FolderController
from accessio.api.encord_items import ItemController
from accessio.api.encord_jobs import JobController
from accessio.api.encord_org import OrganisationController, not_built_handlers
from accessio.api.files import FileController
from accessio.api.own import own_handlers
from accessio.api.settings import ServerSettings
from accessio.api.state import Server, TokenAuthentication, provide_principal, provide_server
from accessio.errors import AccessioError
from accessio.service import Accessio
from accessio.service.activity import ActivityBoard
from accessio.service.executor import Executor, ExecutorSettings
from accessio.service.signing import UrlSigner, catalog_secret
from accessio.service.webhooks import WebhookPump
from accessio.web import web_handlers


def executor_for(app: Accessio, settings: ExecutorSettings) -> Executor:
    """The server's executor: in process (the default), or handing jobs to Celery workers."""
    if settings.kind == "celery":
        from accessio.cluster.executor import CeleryExecutor  # noqa: PLC0415  (Celery loads only when used)

        return CeleryExecutor(app, settings)
    return Executor(app, settings)


def create_app(settings: ServerSettings, app: Accessio | None = None) -> Litestar:
    """The server for ``settings`` (on ``app``'s catalog when given, else ``settings.catalog``)."""
    catalog = app or Accessio(settings.catalog)
    server = Server(
        app=catalog,
        settings=settings,
        executor=executor_for(catalog, settings.executor),
        signer=UrlSigner(catalog_secret(catalog.engine)),
        auth=Authenticator(
            catalog.engine,
            rate=settings.rate_limit,
            burst=settings.rate_burst,
            failed_rate=settings.failed_auth_rate,
        ),
    )

    # the outbox's sender, beside the executor: every server process runs one (claims keep them apart)
    webhooks = WebhookPump(catalog.engine, settings.webhooks, catalog.holder)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await server.executor.start()
        await webhooks.start()
        try:
            yield
        finally:
            await webhooks.stop()
            await server.executor.stop()

    return Litestar(
        route_handlers=[
            # tokens guard the two APIs; the web app has sessions; signed files, their signature
            Router(
                "/",
                route_handlers=[
                    FolderController,
                    ItemController,
                    JobController,
                    OrganisationController,
                    *own_handlers(),
                    *not_built_handlers(),
                ],
                middleware=[TokenAuthentication],
            ),
            FileController,
            *web_handlers(),
        ],
        dependencies={
            "server": Provide(provide_server),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        exception_handlers={
            AccessioError: errors.accessio_error,
            HTTPException: errors.http_error,
            ValueError: errors.value_error,
            Exception: errors.unexpected_error,
        },
        state=State({"server": server}),
        lifespan=[lifespan],
        middleware=[counted_on(server.executor.activity)] if server.executor.activity else [],
        request_max_body_size=settings.max_body_bytes,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="Accessio",
            version=accessio.__version__,
            path="/schema",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")},
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )


def counted_on(board: ActivityBoard) -> Any:
    """A middleware that counts every request on ``board``, for jobs to yield to them."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            board.record()
            await app(scope, receive, send)

        return counted

    return middleware


def server_of(app: Litestar) -> Server:
    server: Any = app.state["server"]
    assert isinstance(server, Server)
    return server


SETTINGS_VARIABLE = "ACCESSIO_SERVER_SETTINGS"


def app_from_environment() -> Litestar:
    """The app of one of several worker processes (``accessio serve --workers N``): its
    settings come as JSON in ``ACCESSIO_SERVER_SETTINGS``, set by the command."""
    settings = msgspec.json.decode(os.environ[SETTINGS_VARIABLE], type=ServerSettings)
    return create_app(settings)
