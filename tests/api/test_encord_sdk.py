"""Encord's own Python SDK (``encord==0.1.211``, unchanged) drives a real
``accessio serve`` on 127.0.0.1: every storage call its users make."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from encord import EncordUserClient
from encord.exceptions import AuthenticationError, InvalidArgumentsError, ResourceNotFoundError
from encord.orm.storage import StorageItemType

from tests.api.live import LiveServer, start_server
from tests.samples import jpeg_bytes, write_sample


def accessio(catalog: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "accessio", *args, "--catalog", catalog], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    base = tmp_path_factory.mktemp("sdk")
    media = base / "media"
    media.mkdir()
    for n in range(4):
        write_sample(media / f"img{n}.jpg", n)
    write_sample(media / "clip.mp4")
    uploads = base / "uploads"
    uploads.mkdir()
    catalog = str(base / "catalog.db")
    accessio(catalog, "integration", "add", "media", "--provider", "local", "--root", str(media))
    accessio(catalog, "integration", "add", "inbox", "--provider", "local", "--root", str(uploads))
    accessio(catalog, "integration", "set", "inbox", "--upload-target")
    accessio(catalog, "user", "add", "alice", "--admin")
    token = accessio(catalog, "token", "create", "alice", "--label", "sdk")
    server = start_server(catalog, base / "server.log")
    try:
        yield {"server": server, "token": token, "media": media, "uploads": uploads, "catalog": catalog}
    finally:
        server.stop()


@pytest.fixture
def client(site: dict[str, object]) -> EncordUserClient:
    server = site["server"]
    assert isinstance(server, LiveServer)
    return EncordUserClient.create_with_bearer_token(str(site["token"]), domain=server.url)


def test_the_sdk_registers_lists_signs_updates_moves_and_deletes(
    client: EncordUserClient, site: dict[str, object]
) -> None:
    media = site["media"]
    assert isinstance(media, Path)
    integrations = {i.title: i for i in client.get_cloud_integrations()}
    assert set(integrations) == {"media", "inbox"}

    folder = client.create_storage_folder("drive-a", "dashcam", client_metadata={"site": "Oran"})
    assert folder.name == "drive-a"
    assert folder.description == "dashcam"
    assert folder.client_metadata == {"site": "Oran"}
    sub = folder.create_subfolder("night")
    assert sub.parent_uuid == folder.uuid
    assert [f.name for f in folder.list_subfolders()] == ["night"]

    spec = {
        "images": [
            {"objectUrl": (media / "img0.jpg").as_uri(), "clientMetadata": {"split": "train"}},
            {"objectUrl": (media / "img1.jpg").as_uri()},
        ],
        "videos": [{"objectUrl": (media / "clip.mp4").as_uri(), "title": "Clip"}],
        "image_groups": [
            {
                "title": "pair",
                "objectUrl_0": (media / "img2.jpg").as_uri(),
                "objectUrl_1": (media / "img3.jpg").as_uri(),
            }
        ],
        "skip_duplicate_urls": True,
    }
    job = folder.add_private_data_to_folder_start(integrations["media"].id, spec)
    assert isinstance(job, UUID)
    result = folder.add_private_data_to_folder_get_result(job, timeout_seconds=120)
    assert result.status.value == "DONE"
    assert (result.units_done_count, result.units_error_count) == (4, 0)
    assert {entry.name for entry in result.items_with_names} >= {"Clip", "pair"}

    items = {item.name: item for item in folder.list_items(get_signed_urls=True)}
    img0, img1 = "img0.jpg", "img1.jpg"  # default names: the paths under the integration's root
    assert set(items) == {img0, img1, "Clip", "pair"}
    clip = items["Clip"]
    assert clip.item_type == StorageItemType.VIDEO
    assert (clip.width, clip.height, clip.frame_count, clip.fps) == (32, 32, 10, 25.0)
    signed = clip.get_signed_url()  # listed with sign_urls=True: no second request
    assert signed is not None
    assert signed.startswith(f"{site['server'].url}/files/{clip.uuid}?")
    fetched = httpx.get(signed)
    assert fetched.status_code == 200
    assert fetched.content == (media / "clip.mp4").read_bytes()
    ranged = httpx.get(signed, headers={"Range": "bytes=4-11"})
    assert ranged.status_code == 206
    assert ranged.content == (media / "clip.mp4").read_bytes()[4:12]
    assert httpx.get(signed.replace("signature=", "signature=0")).status_code == 404

    image = items[img0]
    again = client.get_storage_item(image.uuid, sign_url=True)
    assert again.client_metadata == {"split": "train"}
    assert (again.width, again.height, again.mime_type) == (16, 12, "image/jpeg")
    assert httpx.get(again.get_signed_url() or "").content == jpeg_bytes(16, 12)

    again.update(client_metadata={"split": "val", "n": 2})
    assert client.get_storage_item(image.uuid).client_metadata == {"split": "val", "n": 2}

    group = items["pair"]
    children = list(group.get_child_items())
    assert [c.name.rsplit("/", 1)[-1] for c in children] == ["img2.jpg", "img3.jpg"]
    assert all(c.item_type == StorageItemType.IMAGE for c in children)

    folder.move_items_to_folder(sub, [image.uuid])
    assert [i.uuid for i in sub.list_items()] == [image.uuid]
    assert client.get_storage_item(image.uuid).parent_folder_uuid == sub.uuid
    folder.delete_storage_items([items["Clip"].uuid])
    assert {i.name for i in folder.list_items()} == {img1, "pair"}
    with pytest.raises(ResourceNotFoundError):
        client.get_storage_item(items["Clip"].uuid)

    summary = folder.get_summary()
    assert (summary.images, summary.image_groups, summary.videos) == (1, 1, 0)


def test_the_sdk_reads_and_saves_the_metadata_schema(client: EncordUserClient, site: dict[str, object]) -> None:
    schema = client.metadata_schema()
    schema.add_scalar("score", data_type="number")
    schema.add_scalar("caption", data_type="string")
    schema.add_enum("weather", values=["sunny", "rain"])
    schema.add_embedding("clip", size=4)
    schema.save()
    again = client.metadata_schema()
    assert set(again.keys()) == {"score", "caption", "weather", "clip"}
    raw = httpx.get(
        f"{site['server'].url}/v2/public/organisation/client-metadata-schema-v2",  # type: ignore[attr-defined]
        headers={"Authorization": f"Bearer {site['token']}"},
    ).json()
    assert raw["score"] == {"ty": "variant", "hint": "number"}
    assert raw["caption"] == {"ty": "variant", "hint": "varchar"}
    assert raw["weather"] == {"ty": "enum", "values": ["rain", "sunny"]}
    assert raw["clip"] == {"ty": "embedding", "size": 4, "api": None}


def test_the_sdk_cancels_a_job(client: EncordUserClient, site: dict[str, object]) -> None:
    media = site["media"]
    assert isinstance(media, Path)
    folder = client.create_storage_folder("to-cancel")
    integration = next(i for i in client.get_cloud_integrations() if i.title == "media")
    spec = {"images": [{"objectUrl": f"{media.as_uri()}/missing-{n}.jpg"} for n in range(3000)]}
    job = folder.add_private_data_to_folder_start(integration.id, spec, ignore_errors=True)
    cancelled = folder.add_data_to_folder_job_cancel(job)
    result = folder.add_private_data_to_folder_get_result(job, timeout_seconds=60)
    assert result.status.value == "CANCELLED"
    assert result.units_cancelled_count == cancelled.units_cancelled_count > 0
    assert result.units_cancelled_count + result.units_done_count + result.units_error_count == 3000


def test_the_sdk_uploads_a_local_image(client: EncordUserClient, site: dict[str, object], tmp_path: Path) -> None:
    folder = client.create_storage_folder("uploads")
    picture = tmp_path / "snap.jpg"
    picture.write_bytes(jpeg_bytes(20, 10))
    item_id = folder.upload_image(picture, title="snap", client_metadata={"by": "sdk"})
    item = client.get_storage_item(item_id, sign_url=True)
    assert (item.name, item.width, item.height) == ("snap", 20, 10)
    assert item.client_metadata == {"by": "sdk"}
    assert httpx.get(item.get_signed_url() or "").content == picture.read_bytes()
    uploads = site["uploads"]
    assert isinstance(uploads, Path)
    assert [p.read_bytes() for p in uploads.rglob("*") if p.is_file()] == [picture.read_bytes()]


def test_the_sdk_sees_errors_as_its_exceptions(client: EncordUserClient, site: dict[str, object]) -> None:
    server = site["server"]
    assert isinstance(server, LiveServer)
    with pytest.raises(ResourceNotFoundError):
        client.get_storage_folder(UUID(int=7))
    folder = client.create_storage_folder("bad-spec")
    integration = next(i for i in client.get_cloud_integrations() if i.title == "media")
    with pytest.raises(InvalidArgumentsError) as caught:
        folder.add_private_data_to_folder_start(integration.id, {"images": [{"objectUrl": "s3://b/x y.jpg"}]})
    assert "whitespace" in str(caught.value)
    stranger = EncordUserClient.create_with_bearer_token("acc_not-a-token", domain=server.url)
    with pytest.raises(AuthenticationError):
        stranger.get_cloud_integrations()
    body = httpx.post(
        f"{server.url}/v2/public/storage/folders/{folder.uuid}/data-upload-jobs",
        headers={"Authorization": f"Bearer {site['token']}"},
        json={"externalFiles": {"images": [{"objectUrl": "s3://b/x y.jpg"}]}, "integrationHash": integration.id},
    ).json()
    assert body["issues"] == [
        {"location": "images[0].objectUrl", "code": "url.whitespace", "message": body["issues"][0]["message"]}
    ]
    assert json.dumps(body).count("whitespace") >= 1
