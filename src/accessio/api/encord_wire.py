"""The JSON shapes of Encord's public storage API (``encord==0.1.211``), section by
section of ``shared/encord-api.md``, so the two can be read side by side.

Responses: a key the SDK requires is always sent, ``null`` where it has no value
(msgspec writes every field); ``clientMetadata`` travels as a JSON *string*. Requests:
camelCase keys, ``None`` fields left out by the SDK; unknown keys are ignored (the
SDK adds fields across versions).
"""

from __future__ import annotations

from typing import Any

import msgspec

# §1.6 paging


class Page(msgspec.Struct):
    results: list[Any]
    nextPageToken: str | None = None  # noqa: N815


class Result(msgspec.Struct):
    """E1's answer: ``result``, singular, not a page."""

    result: list[Any]


# §3.1 StorageFolder


class PathElement(msgspec.Struct):
    uuid: str
    parentUuid: str | None  # noqa: N815
    name: str
    syncedDatasetHash: str | None = None  # noqa: N815


class StorageFolder(msgspec.Struct):
    uuid: str
    parent: str | None
    name: str
    description: str
    clientMetadata: str | None  # noqa: N815 - JSON text
    owner: str
    createdAt: str  # noqa: N815
    lastEditedAt: str  # noqa: N815
    userRole: str  # noqa: N815 - "user" or "admin"
    syncedDatasetHash: str | None  # noqa: N815
    pathToRoot: list[PathElement]  # noqa: N815
    folderType: str = "generic"  # noqa: N815 - "cloudLinked" for a synced folder
    integrationHash: str | None = None  # noqa: N815 - a synced folder's integration
    remoteUrl: str | None = None  # noqa: N815 - the prefix it follows


# §3.2 StorageItem


class StorageItem(msgspec.Struct):
    uuid: str
    parent: str
    itemType: str  # noqa: N815
    name: str
    description: str
    clientMetadata: str  # noqa: N815 - JSON text, "{}" when empty
    owner: str
    createdAt: str  # noqa: N815
    lastEditedAt: str  # noqa: N815
    isTombstone: bool  # noqa: N815
    isPlaceholder: bool  # noqa: N815
    backedDataUnitsCount: int  # noqa: N815
    storageLocation: str  # noqa: N815
    integrationHash: str | None  # noqa: N815
    url: str | None
    signedUrl: str | None  # noqa: N815
    fileSize: int | None  # noqa: N815
    mimeType: str | None  # noqa: N815
    duration: float | None
    fps: float | None
    height: int | None
    width: int | None
    dicomInstanceUid: str | None  # noqa: N815
    dicomStudyUid: str | None  # noqa: N815
    dicomSeriesUid: str | None  # noqa: N815
    frameCount: int | None  # noqa: N815
    audioSampleRate: int | None  # noqa: N815
    audioBitDepth: int | None  # noqa: N815
    audioCodec: str | None  # noqa: N815
    audioNumChannels: int | None  # noqa: N815


# §3.3 UploadLongPollingState


class ItemWithName(msgspec.Struct):
    itemUuid: str  # noqa: N815
    name: str


class DataUnitError(msgspec.Struct):
    objectUrls: list[str]  # noqa: N815
    error: str
    subtaskUuid: str  # noqa: N815
    actionDescription: str  # noqa: N815


class UploadLongPollingState(msgspec.Struct):
    status: str  # PENDING, DONE, ERROR, CANCELLED (upper case)
    itemsWithNames: list[ItemWithName]  # noqa: N815
    errors: list[str]
    unitsPendingCount: int  # noqa: N815
    unitsDoneCount: int  # noqa: N815
    unitsErrorCount: int  # noqa: N815
    unitsCancelledCount: int  # noqa: N815
    unitErrors: list[DataUnitError]  # noqa: N815
    fileName: str | None = None  # noqa: N815


# §3.4 UploadSignedUrl


class UploadSignedUrl(msgspec.Struct):
    itemUuid: str  # noqa: N815
    objectKey: str  # noqa: N815
    signedUrl: str  # noqa: N815
    uploadHeaders: dict[str, str] = {}  # noqa: N815


# §4.3 folders: requests


class CreateStorageFolderPayload(msgspec.Struct):
    name: str
    description: str | None = None
    parent: str | None = None
    clientMetadata: str | None = None  # noqa: N815 - JSON text here (an object in PATCH)
    cloudSyncedFolderParams: CloudSyncedFolderParams | None = None  # noqa: N815


class CloudSyncedFolderParams(msgspec.Struct):
    integrationUuid: str  # noqa: N815
    remoteUrl: str  # noqa: N815


class SyncResult(msgspec.Struct):
    """E40: ``SyncPrivateDataWithCloudSyncedFolderGetResultResponse`` (every key required)."""

    status: str  # pending, done, error, cancelled (lower case)
    scanPagesProcessingPending: int  # noqa: N815
    scanPagesProcessingDone: int  # noqa: N815
    scanPagesProcessingError: int  # noqa: N815
    scanPagesProcessingCancelled: int  # noqa: N815
    uploadJobsPending: int  # noqa: N815
    uploadJobsDone: int  # noqa: N815
    uploadJobsError: int  # noqa: N815
    uploadJobsUnitsPending: int  # noqa: N815
    uploadJobsUnitsDone: int  # noqa: N815
    uploadJobsUnitsError: int  # noqa: N815
    uploadJobsUnitsCancelled: int  # noqa: N815


class PatchFolderPayload(msgspec.Struct):
    name: str | None = None
    description: str | None = None
    clientMetadata: dict[str, Any] | None = None  # noqa: N815


class MoveFoldersPayload(msgspec.Struct):
    folderUuids: list[str]  # noqa: N815
    newParentUuid: str | None = None  # noqa: N815


class StorageFolderSummary(msgspec.Struct):
    files: int
    folders: int
    videos: int
    images: int
    imageGroups: int  # noqa: N815
    imageSequences: int  # noqa: N815
    dicomFiles: int  # noqa: N815
    dicomSeries: int  # noqa: N815
    niftis: int
    audios: int
    pdfs: int
    plainTexts: int  # noqa: N815
    tombstones: int
    uploadJobs: int  # noqa: N815
    totalSize: float  # noqa: N815


# §4.4 registering data


class PostUploadJobParams(msgspec.Struct):
    # the user's spec, verbatim, or the SDK's structured form (empty when absent)
    externalFiles: msgspec.Raw = msgspec.Raw()  # noqa: N815
    dataItems: msgspec.Raw = msgspec.Raw()  # noqa: N815
    integrationHash: str | None = None  # noqa: N815
    ignoreErrors: bool = False  # noqa: N815
    fileName: str | None = None  # noqa: N815


class UnitsCancelled(msgspec.Struct):
    unitsCancelledCount: int  # noqa: N815


# §4.5 uploads


class UploadSignedUrlsPayload(msgspec.Struct):
    itemType: str  # noqa: N815
    count: int
    framesSubfolderName: str | None = None  # noqa: N815


# §4.6 items: requests


class GetItemsBulkPayload(msgspec.Struct):
    itemUuids: list[str]  # noqa: N815
    signUrls: bool = False  # noqa: N815


class PatchItemPayload(msgspec.Struct):
    name: str | None = None
    description: str | None = None
    clientMetadata: dict[str, Any] | None = None  # noqa: N815
    timeseriesSettings: dict[str, Any] | None = None  # noqa: N815
    sceneViewSettings: dict[str, Any] | None = None  # noqa: N815
    sceneLayout: dict[str, Any] | None = None  # noqa: N815


class PatchItemsBulkPayload(msgspec.Struct):
    itemPatches: dict[str, PatchItemPayload]  # noqa: N815


class MoveItemsPayload(msgspec.Struct):
    itemUuids: list[str]  # noqa: N815
    newParentUuid: str  # noqa: N815
    allowSyncedDatasetMove: bool = False  # noqa: N815


class DeleteItemsPayload(msgspec.Struct):
    childUuids: list[str]  # noqa: N815
    removeUnusedFrames: bool = True  # noqa: N815


class DeleteItemsResponse(msgspec.Struct):
    removedItemsCount: int  # noqa: N815
    removedFoldersCount: int = 0  # noqa: N815
