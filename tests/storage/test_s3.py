"""S3 and S3-compatible integrations against moto's S3 server (real HTTP on 127.0.0.1).

moto logs every request it receives (``tests.servers``), so these tests count requests
on the server side, not only in the client.
"""

from __future__ import annotations

import asyncio
import io
import os
import urllib.request
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from accessio.storage import (
    AccessMode,
    AddressNotAllowed,
    Integration,
    ListedObject,
    ObjectNotFound,
    Provider,
    ReadNotAllowed,
    Storage,
    UrlOutsideIntegration,
    open_storage,
    parse_object_url,
)
from accessio.storage.stores import Stores, fetch, fetch_async
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, moto_s3  # noqa: F401

BUCKET = "media"
DATA = os.urandom(300_000)


def collect(found: AsyncIterator[ListedObject]) -> list[ListedObject]:
    async def run() -> list[ListedObject]:
        return [item async for item in found]

    return asyncio.run(run())


@pytest.fixture
def moto(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:  # noqa: F811
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    moto_s3.put(BUCKET, "videos/clip.bin", DATA, "video/mp4")
    moto_s3.put(BUCKET, "videos/2024/a b%+.jpg", b"\xff\xd8jpeg", "image/jpeg")
    moto_s3.put(BUCKET, "videosx/other.bin", b"other")
    moto_s3.put(BUCKET, "empty.bin", b"")
    moto_s3.put("elsewhere", "videos/clip.bin", b"x")
    moto_s3.clear()
    return moto_s3


def s3c(moto: MotoS3, **settings: object) -> Storage:
    values: dict[str, object] = {
        "endpoint": moto.endpoint,
        "credentials": "env:MOTO",
        "allow_private_network": True,
        **settings,
    }
    return open_storage(Integration("minio", Provider.S3_COMPATIBLE, **values))  # type: ignore[arg-type]


@pytest.fixture
def storage(moto: MotoS3) -> Iterator[Storage]:
    with s3c(moto) as opened:
        yield opened


def url(moto: MotoS3, key: str, bucket: str = BUCKET) -> str:
    return f"{moto.endpoint}/{bucket}/{key}"


def test_probe_head_is_one_ranged_get(storage: Storage, moto: MotoS3) -> None:
    info, head = asyncio.run(storage.probe_head(url(moto, "videos/clip.bin"), 1000))
    assert (info.size, info.content_type, head) == (len(DATA), "video/mp4", DATA[:1000])
    assert info.etag
    assert info.etag.strip('"')
    seen = moto.requests(path=f"/{BUCKET}/videos/clip.bin")
    assert [(r.method, r.range) for r in seen] == [("GET", "bytes=0-999")]
    assert len(moto.requests()) == 1


def test_probe_head_of_an_empty_object(storage: Storage, moto: MotoS3) -> None:
    info, head = asyncio.run(storage.probe_head(url(moto, "empty.bin")))
    assert (info.size, head) == (0, b"")


def test_read_range_and_missing_objects(storage: Storage, moto: MotoS3) -> None:
    assert asyncio.run(storage.read_range(url(moto, "videos/clip.bin"), 100, 200)) == DATA[100:200]
    assert asyncio.run(storage.read_range(url(moto, "videos/clip.bin"), len(DATA) - 5, len(DATA) + 5)) == DATA[-5:]
    with pytest.raises(ObjectNotFound) as caught:
        asyncio.run(storage.read_range(url(moto, "videos/none.bin"), 0, 10))
    assert "X-Amz-Signature" not in str(caught.value)
    assert str(caught.value) == f"no object at {url(moto, 'videos/none.bin')}"


def test_reader_seeks_across_blocks_with_counted_requests(storage: Storage, moto: MotoS3) -> None:
    reader = storage.reader(url(moto, "videos/clip.bin"), block_size=16384, max_blocks=4)
    assert reader.read(10) == DATA[:10]
    reader.seek(-100, io.SEEK_END)
    assert reader.read() == DATA[-100:]
    reader.seek(50_000)
    assert reader.read(40_000) == DATA[50_000:90_000]  # blocks 3 to 5: one request
    reader.seek(5)
    assert reader.read(5) == DATA[5:10]  # block 0 was evicted (4 blocks kept): read again
    reader.seek(60_000)
    assert reader.read(100) == DATA[60_000:60_100]  # still cached
    assert reader.requests == 4
    gets = moto.requests(path=f"/{BUCKET}/videos/clip.bin", method="GET")
    assert len(gets) == reader.requests
    assert reader.bytes_read == sum(
        min(int(r.range.split("-")[1]), len(DATA) - 1) - int(r.range[6:].split("-")[0]) + 1 for r in gets if r.range
    )
    assert (reader.tell(), reader.seekable(), reader.readable(), reader.writable()) == (60_100, True, True, False)


def test_reader_is_a_binary_file_for_parsers(storage: Storage, moto: MotoS3) -> None:
    buffered = io.BufferedReader(storage.reader(url(moto, "videos/clip.bin")), buffer_size=8192)
    assert buffered.read(3) == DATA[:3]
    buffered.seek(200_000)
    assert buffered.read(5) == DATA[200_000:200_005]


def test_list_a_prefix(storage: Storage, moto: MotoS3) -> None:
    found = collect(storage.list(f"{moto.endpoint}/{BUCKET}/videos/"))
    assert sorted(item.key for item in found) == ["videos/2024/a b%+.jpg", "videos/clip.bin"]
    by_key = {item.key: item for item in found}
    assert by_key["videos/clip.bin"].size == len(DATA)
    assert by_key["videos/clip.bin"].last_modified is not None
    for item in found:
        assert storage.locate(item.url).key == item.key
    weird = by_key["videos/2024/a b%+.jpg"]
    assert asyncio.run(storage.read_range(weird.url, 0, 2)) == b"\xff\xd8"
    assert len(collect(storage.list(f"{moto.endpoint}/{BUCKET}"))) == 5 - 1  # the other bucket is not listed


def test_sign_makes_a_url_urllib_can_fetch(storage: Storage, moto: MotoS3) -> None:
    signed = storage.sign(url(moto, "videos/clip.bin"))
    query = parse_qs(urlsplit(signed).query)
    assert query["X-Amz-Expires"] == ["3600"]
    with urllib.request.urlopen(signed) as response:
        assert response.read() == DATA
    assert parse_qs(urlsplit(storage.sign(url(moto, "videos/clip.bin"), 60)).query)["X-Amz-Expires"] == ["60"]
    capped = storage.sign(url(moto, "videos/clip.bin"), 10**9)
    assert parse_qs(urlsplit(capped).query)["X-Amz-Expires"] == ["3600"]
    with s3c(moto, sign_ttl_s=600) as short:
        assert parse_qs(urlsplit(short.sign(url(moto, "videos/clip.bin"))).query)["X-Amz-Expires"] == ["600"]


def test_strict_client_only_never_reaches_the_server(moto: MotoS3) -> None:
    with s3c(moto, access_mode=AccessMode.STRICT_CLIENT_ONLY) as storage:
        target = url(moto, "videos/clip.bin")
        with pytest.raises(ReadNotAllowed):
            asyncio.run(storage.probe_head(target))
        with pytest.raises(ReadNotAllowed):
            asyncio.run(storage.read_range(target, 0, 10))
        with pytest.raises(ReadNotAllowed):
            storage.reader(target)
        with pytest.raises(ReadNotAllowed):
            storage.list(f"{moto.endpoint}/{BUCKET}/videos/")
        signed = storage.sign(target)
    assert moto.requests() == []
    with urllib.request.urlopen(signed) as response:
        assert response.read(4) == DATA[:4]


def test_direct_access_uses_urls_as_given(storage: Storage, moto: MotoS3) -> None:
    presigned = storage.sign(url(moto, "videos/clip.bin"))
    with s3c(moto, access_mode=AccessMode.DIRECT_ACCESS, credentials=None) as direct:
        assert direct.sign(presigned) == presigned
        info, head = asyncio.run(direct.probe_head(presigned, 10))
    assert (info.size, head) == (len(DATA), DATA[:10])


def test_anonymous_sign_is_the_plain_url(moto: MotoS3) -> None:
    with s3c(moto, credentials=None) as anonymous:
        assert anonymous.sign(url(moto, "videos/clip.bin")) == url(moto, "videos/clip.bin")


def test_urls_outside_the_integration_are_refused(moto: MotoS3) -> None:
    with s3c(moto, root=f"{BUCKET}/videos") as storage:
        assert storage.locate(url(moto, "videos/clip.bin")).key == "videos/clip.bin"
        refused = [
            url(moto, "videos/clip.bin", bucket="elsewhere"),
            url(moto, "videosx/other.bin"),
            url(moto, "videos/../videosx/other.bin"),
            url(moto, "videos/%2E%2E/videosx/other.bin"),
            "s3://media/videos/clip.bin",
            "http://127.0.0.2:9/media/videos/clip.bin",
            "https://media.s3.amazonaws.com/videos/clip.bin",
        ]
        for outside in refused:
            with pytest.raises(UrlOutsideIntegration):
                asyncio.run(storage.probe_head(outside))
        with pytest.raises(UrlOutsideIntegration):
            storage.list(f"{moto.endpoint}/{BUCKET}/")
    assert moto.requests() == []


def test_an_s3_integration_with_an_endpoint_override(moto: MotoS3) -> None:
    integration = Integration(
        "aws", Provider.S3, endpoint=moto.endpoint, credentials="env:MOTO", allow_private_network=True, root=BUCKET
    )
    with open_storage(integration) as storage:
        info, _ = asyncio.run(storage.probe_head("s3://media/videos/clip.bin", 1))
        assert info.size == len(DATA)
        found = collect(storage.list("s3://media/videos/2024"))
        assert [item.url for item in found] == ["s3://media/videos/2024/a%20b%25+.jpg"]
        with pytest.raises(UrlOutsideIntegration, match="root"):
            storage.locate("s3://elsewhere/videos/clip.bin")


def test_private_endpoints_need_the_opt_in(moto: MotoS3) -> None:
    port = urlsplit(moto.endpoint).port
    with s3c(moto, endpoint=f"http://localhost:{port}", allow_private_network=False) as storage:
        target = f"http://localhost:{port}/{BUCKET}/videos/clip.bin"
        with pytest.raises(AddressNotAllowed, match="loopback"):
            asyncio.run(storage.probe_head(target))
        with pytest.raises(AddressNotAllowed):
            storage.reader(target).read(1)

        async def listing() -> None:
            async for _ in storage.list(f"http://localhost:{port}/{BUCKET}/videos/"):
                pass

        with pytest.raises(AddressNotAllowed):
            asyncio.run(listing())
        assert storage.web.backend.connected == []
    assert moto.requests() == []


def test_the_obstore_read_path_used_for_aws_itself(moto: MotoS3) -> None:
    """Integrations without an endpoint read through obstore; drive that path at moto directly."""
    integration = Integration("aws", Provider.S3, endpoint=moto.endpoint, credentials="env:MOTO")
    stores = Stores(integration)
    loc = parse_object_url("s3://media/videos/clip.bin")
    store = stores.store_for(loc)
    got = asyncio.run(fetch_async(store, loc.key, 0, 1000, loc.url))
    assert (got.data, got.size, got.content_type) == (DATA[:1000], len(DATA), "video/mp4")
    assert fetch(store, loc.key, len(DATA) - 10, len(DATA) + 10, loc.url).data == DATA[-10:]
    assert fetch(store, loc.key, len(DATA) + 10, len(DATA) + 20, loc.url).data == b""
    empty = asyncio.run(fetch_async(store, "empty.bin", 0, 1000, "s3://media/empty.bin"))
    assert (empty.data, empty.size) == (b"", 0)
    with pytest.raises(ObjectNotFound):
        fetch(store, "videos/none.bin", 0, 10, "s3://media/videos/none.bin")
    first = moto.requests(path=f"/{BUCKET}/videos/clip.bin")[0]
    assert (first.method, first.range) == ("GET", "bytes=0-999")
