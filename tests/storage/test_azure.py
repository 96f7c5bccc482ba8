"""Azure Blob integrations against Azurite (real HTTP on 127.0.0.1): read, list, sign."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from accessio.storage import (
    AccessMode,
    Integration,
    ListedObject,
    ObjectNotFound,
    Provider,
    ReadNotAllowed,
    Storage,
    UrlOutsideIntegration,
    open_storage,
)
from tests.servers import Azurite, azurite  # noqa: F401

DATA = bytes(range(256)) * 400
CONTAINER = "frames"


def collect(found: AsyncIterator[ListedObject]) -> list[ListedObject]:
    async def run() -> list[ListedObject]:
        return [item async for item in found]

    return asyncio.run(run())


@pytest.fixture
def blobs(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Azurite:  # noqa: F811
    monkeypatch.setenv("AZURITE_ACCOUNT_KEY", azurite.key)
    azurite.put(CONTAINER, "2024/one.bin", DATA, "application/dicom")
    azurite.put(CONTAINER, "2024/two words.txt", b"two")
    azurite.put(CONTAINER, "other/three.txt", b"three")
    return azurite


def open_azure(server: Azurite, **settings: object) -> Storage:
    values: dict[str, object] = {
        "endpoint": server.endpoint,
        "credentials": "env:AZURITE",
        "allow_private_network": True,
        **settings,
    }
    return open_storage(Integration("blob", Provider.AZURE, **values))  # type: ignore[arg-type]


@pytest.fixture
def storage(blobs: Azurite) -> Iterator[Storage]:
    with open_azure(blobs) as opened:
        yield opened


def blob_url(server: Azurite, name: str, container: str = CONTAINER) -> str:
    return f"{server.endpoint}/{server.account}/{container}/{name}"


def test_read(storage: Storage, blobs: Azurite) -> None:
    info, head = asyncio.run(storage.probe_head(blob_url(blobs, "2024/one.bin"), 100))
    assert (info.size, info.content_type, head) == (len(DATA), "application/dicom", DATA[:100])
    assert info.etag
    assert asyncio.run(storage.read_range(blob_url(blobs, "2024/one.bin"), 500, 600)) == DATA[500:600]
    reader = storage.reader(blob_url(blobs, "2024/one.bin"), block_size=4096)
    reader.seek(90_000)
    assert reader.read(10) == DATA[90_000:90_010]
    assert reader.requests == 2
    with pytest.raises(ObjectNotFound):
        asyncio.run(storage.probe_head(blob_url(blobs, "2024/missing.bin")))


def test_list(storage: Storage, blobs: Azurite) -> None:
    found = collect(storage.list(f"{blobs.endpoint}/{blobs.account}/{CONTAINER}/2024/"))
    assert sorted(item.key for item in found) == ["2024/one.bin", "2024/two words.txt"]
    for item in found:
        assert storage.locate(item.url).key == item.key
    two = next(item for item in found if item.key.endswith("words.txt"))
    assert asyncio.run(storage.read_range(two.url, 0, 10)) == b"two"
    assert len(collect(storage.list(f"{blobs.endpoint}/{blobs.account}/{CONTAINER}"))) == 3


def test_sign(storage: Storage, blobs: Azurite) -> None:
    signed = storage.sign(blob_url(blobs, "2024/one.bin"), 120)
    assert "sig" in parse_qs(urlsplit(signed).query)
    with urllib.request.urlopen(signed) as response:
        assert response.read() == DATA
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(blob_url(blobs, "2024/one.bin"))


def test_confinement_and_strict_mode(blobs: Azurite) -> None:
    with open_azure(blobs, root=f"{CONTAINER}/2024") as storage:
        with pytest.raises(UrlOutsideIntegration):
            storage.locate(blob_url(blobs, "other/three.txt"))
        with pytest.raises(UrlOutsideIntegration):
            storage.locate(f"https://{blobs.account}.blob.core.windows.net/{CONTAINER}/2024/one.bin")
    with open_azure(blobs, access_mode=AccessMode.STRICT_CLIENT_ONLY) as strict:
        with pytest.raises(ReadNotAllowed):
            asyncio.run(strict.probe_head(blob_url(blobs, "2024/one.bin")))
        with urllib.request.urlopen(strict.sign(blob_url(blobs, "2024/one.bin"))) as response:
            assert response.read(3) == DATA[:3]
