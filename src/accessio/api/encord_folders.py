"""Encord's folder endpoints: E3-E8, E10-E12 (``shared/encord-api.md`` §4.3)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from accessio.api.encord_wire import (
    CreateStorageFolderPayload,
    MoveFoldersPayload,
    Page,
    PatchFolderPayload,
    PathElement,
    StorageFolder,
    StorageFolderSummary,
)
from accessio.api.errors import NotBuilt
from accessio.api.state import Caller, ServerDep
from accessio.catalog.accounts import Role
from accessio.catalog.errors import InvalidName
from accessio.service import Principal
from accessio.service import folders as folder_service
from accessio.service.folders import FolderView, Seen


def _metadata_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def folder_wire(view: FolderView) -> StorageFolder:
    folder = view.folder
    return StorageFolder(
        uuid=folder.id,
        parent=view.parent_id,
        name=folder.name,
        description=folder.description or "",
        clientMetadata=_metadata_text(folder.client_metadata),
        owner=view.owner,
        createdAt=folder.created_at.isoformat(),
        lastEditedAt=folder.updated_at.isoformat(),
        userRole="admin" if view.role is Role.ADMIN else "user",
        syncedDatasetHash=None,
        folderType="generic" if folder.sync_prefix is None else "cloudLinked",
        integrationHash=folder.sync_integration_id,
        remoteUrl=folder.sync_prefix,
        pathToRoot=[
            PathElement(
                uuid=f.id,
                parentUuid=(view.path_to_root[n + 1].id if n + 1 < len(view.path_to_root) else None),
                name=f.name,
            )
            for n, f in enumerate(view.path_to_root)
        ],
    )


def folder_wires(server: ServerDep, who: Principal, seen: list[Seen]) -> list[StorageFolder]:
    return [folder_wire(view) for view in folder_service.describe(server.app, who, seen)]


def _decoded_metadata(text: str | None) -> dict[str, Any] | None:
    """E3 sends client metadata as JSON text (PATCH sends an object)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidName(f"clientMetadata is not JSON text: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidName("clientMetadata must encode a JSON object")
    return value


Search = Annotated[str | None, QueryParameter(name="search")]
Recursive = Annotated[bool, QueryParameter(name="isRecursive")]
Order = Annotated[str, QueryParameter(name="order")]
Desc = Annotated[bool, QueryParameter(name="desc")]
PageToken = Annotated[str | None, QueryParameter(name="pageToken")]
PageSize = Annotated[int, QueryParameter(name="pageSize")]
DatasetSynced = Annotated[bool | None, QueryParameter(name="datasetSynced")]
OrgAccess = Annotated[bool | None, QueryParameter(name="includeOrgAccess")]
Tags = Annotated[list[str] | None, QueryParameter(name="organisationTagNamesAllof")]


def _no_tags(tags: list[str] | None) -> None:
    if tags:
        raise NotBuilt("organisation tags are not supported by this server")


class FolderController(Controller):
    path = "/v2/public/storage"
    tags = ["Encord: folders"]  # noqa: RUF012

    @post("/folders", status_code=200, sync_to_thread=True)
    def create(self, data: JSONBody[CreateStorageFolderPayload], server: ServerDep, principal: Caller) -> StorageFolder:
        """E3: a folder, at the top level or under ``parent``."""
        params = data.cloudSyncedFolderParams
        seen = folder_service.create_folder(
            server.app,
            principal,
            data.name,
            parent_id=data.parent,
            description=data.description or "",
            client_metadata=_decoded_metadata(data.clientMetadata),
            sync=None if params is None else (params.integrationUuid, params.remoteUrl),
        )
        return folder_wires(server, principal, [seen])[0]

    def _page(
        self,
        server: ServerDep,
        principal: Caller,
        *,
        parent_id: str | None,
        recursive: bool,
        search: str | None,
        order: str,
        desc: bool,
        page_token: str | None,
        page_size: int,
    ) -> Page:
        page = folder_service.list_folders(
            server.app,
            principal,
            parent_id=parent_id,
            recursive=recursive,
            search=search,
            order=order,
            desc=desc,
            page_size=page_size,
            page_token=page_token,
        )
        return Page(folder_wires(server, principal, page.folders), page.next_token)

    @get("/folders", sync_to_thread=True)
    def list_top(
        self,
        server: ServerDep,
        principal: Caller,
        search: Search = None,
        is_recursive: Recursive = False,
        order: Order = "name",
        desc: Desc = False,
        page_token: PageToken = None,
        page_size: PageSize = 100,
        dataset_synced: DatasetSynced = None,
        org_access: OrgAccess = None,
        tags: Tags = None,
    ) -> Page:
        """E4: the top-level folders (a member's: where their folders start)."""
        _no_tags(tags)
        return self._page(
            server, principal, parent_id=None, recursive=False, search=search, order=order, desc=desc,
            page_token=page_token, page_size=page_size,
        )  # fmt: skip

    @get("/search/folders", sync_to_thread=True)
    def search(
        self,
        server: ServerDep,
        principal: Caller,
        search: Search = None,
        is_recursive: Recursive = False,
        order: Order = "name",
        desc: Desc = False,
        page_token: PageToken = None,
        page_size: PageSize = 100,
        dataset_synced: DatasetSynced = None,
        org_access: OrgAccess = None,
        tags: Tags = None,
    ) -> Page:
        """E5: every folder the caller sees whose name holds ``search``."""
        _no_tags(tags)
        return self._page(
            server, principal, parent_id=None, recursive=True, search=search, order=order, desc=desc,
            page_token=page_token, page_size=page_size,
        )  # fmt: skip

    @get("/folders/{folder_id:str}", sync_to_thread=True)
    def get_one(self, folder_id: FromPath[str], server: ServerDep, principal: Caller) -> StorageFolder:
        """E6."""
        return folder_wires(server, principal, [folder_service.get_folder(server.app, principal, folder_id)])[0]

    @get("/folders/{folder_id:str}/folders", sync_to_thread=True)
    def subfolders(
        self,
        folder_id: FromPath[str],
        server: ServerDep,
        principal: Caller,
        search: Search = None,
        is_recursive: Recursive = False,
        order: Order = "name",
        desc: Desc = False,
        page_token: PageToken = None,
        page_size: PageSize = 100,
        dataset_synced: DatasetSynced = None,
        tags: Tags = None,
    ) -> Page:
        """E7: a folder's children, or every folder below it with ``isRecursive=True``."""
        _no_tags(tags)
        return self._page(
            server, principal, parent_id=folder_id, recursive=is_recursive, search=search, order=order, desc=desc,
            page_token=page_token, page_size=page_size,
        )  # fmt: skip

    @patch("/folders/{folder_id:str}", sync_to_thread=True)
    def update(
        self, folder_id: FromPath[str], data: JSONBody[PatchFolderPayload], server: ServerDep, principal: Caller
    ) -> StorageFolder:
        """E8: name (admins), description and client metadata (editors; replaced whole)."""
        seen = folder_service.update_folder(
            server.app,
            principal,
            folder_id,
            name=data.name,
            description=data.description,
            client_metadata=data.clientMetadata,
        )
        return folder_wires(server, principal, [seen])[0]

    @post("/folders/move", status_code=200, sync_to_thread=True)
    def move(self, data: JSONBody[MoveFoldersPayload], server: ServerDep, principal: Caller) -> dict[str, Any]:
        """E10: folders under ``newParentUuid`` (to the top level without it)."""
        moved = folder_service.move_folders(server.app, principal, data.folderUuids, data.newParentUuid)
        return {"movedFoldersCount": len(moved)}

    @delete("/folders/{folder_id:str}", status_code=200, sync_to_thread=True)
    def remove(self, folder_id: FromPath[str], server: ServerDep, principal: Caller) -> dict[str, Any]:
        """E11: the folder with its subfolders, items and finished jobs (refused while a job runs in it)."""
        removed = folder_service.delete_folder(server.app, principal, folder_id)
        return {"removedItemsCount": removed}

    @get("/folders/{folder_id:str}/summary", sync_to_thread=True)
    def summary(self, folder_id: FromPath[str], server: ServerDep, principal: Caller) -> StorageFolderSummary:
        """E12."""
        return StorageFolderSummary(**folder_service.summary(server.app, principal, folder_id))
