"""Encord's organisation-level endpoints (E1, E41, E42) and every endpoint of the
contract this server does not offer (501, with a message saying so)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody, QueryParameter

from accessio.api.encord_wire import Result
from accessio.api.errors import NotBuilt
from accessio.api.state import Caller, ServerDep
from accessio.service import Forbidden, Principal
from accessio.service import jobs as job_service


def _with_api(definition: dict[str, Any]) -> dict[str, Any]:
    """Encord's embedding definitions carry ``api`` (``null`` here), tombstones' too."""
    if definition.get("ty") == "embedding":
        return {**definition, "api": None}
    if definition.get("ty") == "tombstone" and isinstance(definition.get("deleted_ty"), dict):
        return {**definition, "deleted_ty": _with_api(definition["deleted_ty"])}
    return definition


class OrganisationController(Controller):
    path = "/v2/public"
    tags = ["Encord: organisation"]  # noqa: RUF012

    @get("/cloud-integrations", sync_to_thread=True)
    def integrations(
        self,
        server: ServerDep,
        principal: Caller,
        uuids: Annotated[list[str] | None, QueryParameter(name="filterIntegrationUuids")] = None,
        titles: Annotated[list[str] | None, QueryParameter(name="filterIntegrationTitles")] = None,
        org_access: Annotated[bool | None, QueryParameter(name="includeOrgAccess")] = None,
    ) -> Result:
        """E1: the integrations the caller may register through."""
        found = job_service.visible_integrations(server.app, principal)
        if uuids:
            found = [r for r in found if r.id in set(uuids)]
        if titles:
            found = [r for r in found if r.name in set(titles)]
        return Result([{"integrationUuid": r.id, "title": r.name} for r in found])

    @get("/organisation/client-metadata-schema-v2", sync_to_thread=True)
    def schema(self, server: ServerDep, principal: Caller) -> dict[str, Any] | None:
        """E41: the whole metadata schema (``null`` when it is empty)."""
        exported = server.app.schema_export()
        return {key: _with_api(definition) for key, definition in exported.items()} or None

    @post("/organisation/client-metadata-schema-v2", status_code=200, sync_to_thread=True)
    def save_schema(self, data: JSONBody[dict[str, Any]], server: ServerDep, principal: Caller) -> dict[str, Any]:
        """E42: replace the whole schema (admins)."""
        if not principal.is_admin:
            raise Forbidden("only administrators change the metadata schema")
        saved = server.app.schema_import(data, source="client-metadata-schema-v2")
        return {key: _with_api(definition) for key, definition in saved.to_json().items()}


# Endpoints of the contract not offered: (method, path, what)
NOT_BUILT: list[tuple[str, str, str]] = [
    ("GET", "/v2/public/organisation/organisation-tags", "organisation tags"),
    ("PATCH", "/v2/public/storage/folders/patch-bulk", "bulk folder patches"),
    ("GET", "/v2/public/storage/folders/{folder_id:str}/folder-config", "folder configuration"),
    ("POST", "/v2/public/storage/folders/{folder_id:str}/folder-config", "folder configuration"),
    ("GET", "/v2/public/storage/folders/{folder_id:str}/groups", "user groups"),
    ("POST", "/v2/public/storage/folders/{folder_id:str}/groups", "user groups"),
    ("DELETE", "/v2/public/storage/folders/{folder_id:str}/groups", "user groups"),
    ("GET", "/v2/public/presigned-urls", "scene uploads"),
    ("GET", "/v2/public/storage/search/items", "the deprecated item search"),
    ("GET", "/v2/public/storage/folders/{folder_id:str}/items/{item_id:str}/summary", "item summaries"),
    ("POST", "/v2/public/storage/folders/{folder_id:str}/create-group-items", "data groups"),
    ("POST", "/v2/public/storage/items/reencode", "video re-encoding"),
    ("GET", "/v2/public/storage/items/reencode/{process_id:str}", "video re-encoding"),
    ("POST", "/v2/public/storage/items/migrate-storage", "storage migration"),
    ("POST", "/v2/public/storage/folders/{folder_id:str}/cloud-synced-folder-syncs", "cloud-synced folders"),
    (
        "GET",
        "/v2/public/storage/folders/{folder_id:str}/cloud-linked-folder-syncs/{job_id:str}/long-polling",
        "cloud-synced folders",
    ),
    ("GET", "/v2/public/organisation/client-metadata-schema", "the v1 metadata schema (use -v2)"),
    ("POST", "/v2/public/organisation/client-metadata-schema", "the v1 metadata schema (use -v2)"),
]

_DECORATORS = {"GET": get, "POST": post, "PATCH": patch, "DELETE": delete}


def _refusal(what: str) -> Callable[[Principal], None]:
    def refuse(principal: Caller) -> None:
        raise NotBuilt(f"this server does not offer {what}")

    return refuse


def not_built_handlers() -> list[HTTPRouteHandler]:
    """A 501 handler for each endpoint in :data:`NOT_BUILT` (after authentication)."""
    return [
        _DECORATORS[method](
            path, status_code=200, sync_to_thread=False, tags=["Encord: not offered"], include_in_schema=False
        )(_refusal(what))
        for method, path, what in NOT_BUILT
    ]
