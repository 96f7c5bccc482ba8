"""Signed URLs for every provider through the API: S3 (moto) signs through the
provider, a plain web server's objects stream through the server's own URL (Range
included), a strictClientOnly local item gets none; and CORS stays off unless asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from accessio.api import ServerSettings, create_app
from accessio.catalog import accounts
from accessio.service import Accessio, Principal
from accessio.service import folders as folder_service
from accessio.service import jobs as job_service
from accessio.spec import parse_spec
from tests.samples import jpeg_bytes
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, WebServer, moto_s3, web_server, web_server_factory  # noqa: F401

PICTURE = jpeg_bytes(24, 16)


@pytest.fixture
def site(
    tmp_path: Path, moto_s3: MotoS3, web_server: WebServer, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    moto_s3.put("signed", "cats/tom.jpg", PICTURE, "image/jpeg")
    web_server.files["/pics/jerry.jpg"] = (PICTURE, "image/jpeg")
    local = tmp_path / "local"
    local.mkdir()
    (local / "spike.jpg").write_bytes(PICTURE)
    app = Accessio(str(tmp_path / "catalog.db"))
    common = {"allow_private_network": True}
    app.add_integration("minio", "s3Compatible", endpoint=moto_s3.endpoint, credentials="env:MOTO", **common)
    app.add_integration("web", "http", endpoint=web_server.base, **common)
    app.add_integration("sealed", "local", root=str(local), access_mode="strictClientOnly")
    with app.engine.begin() as conn:
        user = accounts.add_user(conn, "root", is_admin=True)
        _, token = accounts.create_token(conn, user.id)
    who = Principal(user.id, "root", True)
    folder = folder_service.create_folder(app, who, "signed").folder.id
    meta = {"mimeType": "image/jpeg", "fileSize": len(PICTURE), "width": 24, "height": 16}
    ids = {}
    for integration, url in (
        ("minio", f"{moto_s3.endpoint}/signed/cats/tom.jpg"),
        ("web", web_server.url("/pics/jerry.jpg")),
        ("sealed", (local / "spike.jpg").as_uri()),
    ):
        spec = parse_spec(f'{{"images": [{{"objectUrl": "{url}", "imageMetadata": {json_meta(meta)}}}]}}'.encode())
        job = job_service.submit(app, who, folder, spec, integration=integration)
        job.run()
        assert job.status == "DONE", job.to_json()
        ids[integration] = job.to_json()["id"]
    items = {row["url"]: row["uuid"] for row in app.items_page("signed").items}
    yield {"app": app, "token": token, "items": items, "web": web_server, "moto": moto_s3}
    app.close()


def json_meta(meta: dict[str, Any]) -> str:
    import json  # noqa: PLC0415

    return json.dumps(meta)


def _signed(client: TestClient[Any], token: str, item: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get(f"/v2/public/storage/items/{item}?signUrl=True", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["signedUrl"]


def test_every_provider_gets_a_url_that_reads_the_object(site: dict[str, Any]) -> None:
    with TestClient(create_app(ServerSettings(rate_limit=0), site["app"])) as client:
        s3_item = next(item for url, item in site["items"].items() if "/signed/cats/" in url)
        web_item = next(item for url, item in site["items"].items() if "/pics/" in url)
        sealed_item = next(item for url, item in site["items"].items() if url.startswith("file:"))
        assert len(site["items"]) == 3

        s3_url = _signed(client, site["token"], s3_item)
        assert s3_url.startswith(f"{site['moto'].endpoint}/signed/cats/tom.jpg?")
        assert "X-Amz-Signature" in s3_url
        assert httpx.get(s3_url).content == PICTURE

        web_url = _signed(client, site["token"], web_item)
        assert web_url.startswith(f"http://testserver.local/files/{web_item}?expires=")
        whole = client.get(web_url.removeprefix("http://testserver.local"))
        assert (whole.status_code, whole.content) == (200, PICTURE)
        assert whole.headers["accept-ranges"] == "bytes"
        part = client.get(web_url.removeprefix("http://testserver.local"), headers={"Range": "bytes=2-9"})
        assert (part.status_code, part.content) == (206, PICTURE[2:10])
        assert part.headers["content-range"] == f"bytes 2-9/{len(PICTURE)}"
        tail = client.get(web_url.removeprefix("http://testserver.local"), headers={"Range": "bytes=-4"})
        assert tail.content == PICTURE[-4:]
        path = web_url.removeprefix("http://testserver.local")
        beyond = client.get(path, headers={"Range": f"bytes={len(PICTURE)}-"})
        assert beyond.status_code == 416

        assert _signed(client, site["token"], sealed_item) is None  # the server never reads these
        assert client.get(f"/files/{sealed_item}").status_code == 404


def test_cors_is_off_unless_origins_are_given(site: dict[str, Any]) -> None:
    origin = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    with TestClient(create_app(ServerSettings(rate_limit=0), site["app"])) as client:
        response = client.options("/v2/public/cloud-integrations", headers=origin)
        assert "access-control-allow-origin" not in response.headers
    settings = ServerSettings(rate_limit=0, cors_origins=("https://app.example.com",))
    with TestClient(create_app(settings, site["app"])) as client:
        response = client.options("/v2/public/cloud-integrations", headers=origin)
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
