"""Encord's SDK (``encord==0.1.211``, unchanged) makes a cloud-synced folder on a real
``accessio serve``, starts its syncs (E39) and long-polls their results (E40)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from encord import EncordUserClient
from encord.exceptions import InvalidArgumentsError, ResourceNotFoundError
from encord.orm.storage import CloudSyncedFolderParams

from tests.api.live import LiveServer, start_server
from tests.api.test_encord_sdk import accessio
from tests.samples import jpeg_bytes


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    base = tmp_path_factory.mktemp("sync-sdk")
    media = base / "media"
    media.mkdir()
    for n in range(3):
        (media / f"img{n}.jpg").write_bytes(jpeg_bytes(16 + n, 12))
    catalog = str(base / "catalog.db")
    accessio(catalog, "integration", "add", "media", "--provider", "local", "--root", str(media))
    accessio(catalog, "user", "add", "alice", "--admin")
    accessio(catalog, "user", "add", "bob")
    tokens = {name: accessio(catalog, "token", "create", name, "--label", "sdk") for name in ("alice", "bob")}
    server = start_server(catalog, base / "server.log")
    try:
        yield {"server": server, "tokens": tokens, "media": media}
    finally:
        server.stop()


def client_of(site: dict[str, object], name: str) -> EncordUserClient:
    server, tokens = site["server"], site["tokens"]
    assert isinstance(server, LiveServer)
    assert isinstance(tokens, dict)
    return EncordUserClient.create_with_bearer_token(tokens[name], domain=server.url)


def test_the_sdk_makes_a_synced_folder_and_follows_its_syncs(site: dict[str, object]) -> None:
    media = site["media"]
    assert isinstance(media, Path)
    alice = client_of(site, "alice")
    (integration,) = [i for i in alice.get_cloud_integrations() if i.title == "media"]
    params = CloudSyncedFolderParams(integration_uuid=integration.id, remote_url=media.as_uri())
    folder = alice.create_storage_folder("cloud", cloud_synced_folder_params=params)
    assert folder.is_cloud_synced
    assert alice.get_storage_folder(folder.uuid).is_cloud_synced

    job = folder.sync_private_data_with_cloud_synced_folder_start()
    result = folder.sync_private_data_with_cloud_synced_folder_get_result(job, timeout_seconds=60)
    assert result.status.value == "done"
    assert (result.upload_jobs_units_done, result.upload_jobs_units_error) == (3, 0)
    assert sorted(item.name for item in folder.list_items()) == ["img0.jpg", "img1.jpg", "img2.jpg"]

    (media / "img1.jpg").unlink()  # a tombstone: gone from the SDK's listing
    job = folder.sync_private_data_with_cloud_synced_folder_start()
    result = folder.sync_private_data_with_cloud_synced_folder_get_result(job, timeout_seconds=60)
    assert result.status.value == "done"
    assert result.upload_jobs_units_done == 1
    assert sorted(item.name for item in folder.list_items()) == ["img0.jpg", "img2.jpg"]

    plain = alice.create_storage_folder("plain")
    with pytest.raises(InvalidArgumentsError):
        plain.sync_private_data_with_cloud_synced_folder_start()

    bob = client_of(site, "bob")
    with pytest.raises(ResourceNotFoundError):
        bob.get_storage_folder(folder.uuid)
    bob_view = bob.create_storage_folder("bobs")  # E39 on a folder bob cannot see is a 404 like a missing one
    bob_view._orm_folder.uuid = folder.uuid
    with pytest.raises(ResourceNotFoundError):
        bob_view.sync_private_data_with_cloud_synced_folder_start()


def test_a_folder_cannot_follow_a_prefix_outside_its_integration(site: dict[str, object]) -> None:
    alice = client_of(site, "alice")
    (integration,) = [i for i in alice.get_cloud_integrations() if i.title == "media"]
    params = CloudSyncedFolderParams(integration_uuid=integration.id, remote_url="file:///etc/")
    with pytest.raises(InvalidArgumentsError):
        alice.create_storage_folder("escape", cloud_synced_folder_params=params)
