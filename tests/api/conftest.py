"""An in-process server on a real catalog with two tenants, for the API tests.

- ``alice`` and ``bob``: members; each owns a folder with items registered through the
  ``media`` integration (granted to both) and a finished job;
- ``carol``: a member with the viewer role on alice's folder; ``dave``: editor there;
- ``root``: an administrator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from accessio.api import ServerSettings, create_app
from accessio.catalog import accounts
from accessio.catalog.accounts import Role
from accessio.service import Accessio, Principal
from accessio.service import folders as folder_service
from accessio.service import jobs as job_service
from accessio.spec import parse_spec
from tests.samples import write_sample


@dataclass
class Tenant:
    name: str
    token: str
    principal: Principal
    folder: str = ""  # ids of what the tenant owns
    subfolder: str = ""
    image: str = ""
    group: str = ""
    frame: str = ""
    job: str = ""
    secrets: list[str] = field(default_factory=list)  # strings of theirs no one else may read

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    app: Accessio
    client: TestClient[Any]
    media: Path
    integration: str
    users: dict[str, Tenant]


def _user(app: Accessio, name: str, *, admin: bool = False) -> Tenant:
    with app.engine.begin() as conn:
        user = accounts.add_user(conn, name, is_admin=admin)
        _, secret = accounts.create_token(conn, user.id, label="tests")
    return Tenant(name, secret, Principal(user.id, name, admin))


def _populate(app: Accessio, tenant: Tenant, media: Path, integration: str) -> None:
    who = tenant.principal
    top = folder_service.create_folder(app, who, f"{tenant.name}-secret-folder", description=f"{tenant.name}'s notes")
    sub = folder_service.create_folder(app, who, f"{tenant.name}-sub", parent_id=top.folder.id)
    urls = [(media / f"{tenant.name}-{n}.jpg") for n in range(3)]
    for n, path in enumerate(urls):
        write_sample(path, n)
    spec = parse_spec(
        json.dumps(
            {
                "images": [
                    {
                        "objectUrl": urls[0].as_uri(),
                        "title": f"{tenant.name}-image",
                        "clientMetadata": {"owner": f"{tenant.name}-metadata"},
                    }
                ],
                "image_groups": [
                    {"title": f"{tenant.name}-group", "objectUrl_0": urls[1].as_uri(), "objectUrl_1": urls[2].as_uri()}
                ],
            }
        ).encode()
    )
    job = job_service.submit(app, who, top.folder.id, spec, integration=integration)
    job.run()
    assert job.status == "DONE"
    rows = {row["name"]: row for row in app.items_page(top.folder.path).items}
    image, group = rows[f"{tenant.name}-image"], rows[f"{tenant.name}-group"]
    frame = app.item(group["uuid"])["children"][0]
    tenant.folder, tenant.subfolder = top.folder.id, sub.folder.id
    tenant.image, tenant.group, tenant.frame, tenant.job = image["uuid"], group["uuid"], frame["uuid"], job.id
    tenant.secrets = [
        f"{tenant.name}-secret-folder",
        f"{tenant.name}-sub",
        f"{tenant.name}'s notes",
        f"{tenant.name}-image",
        f"{tenant.name}-group",
        f"{tenant.name}-metadata",
        f"{tenant.name}-0.jpg",
        f"{tenant.name}-1.jpg",
        tenant.folder,
        tenant.subfolder,
        tenant.image,
        tenant.group,
        tenant.frame,
        tenant.job,
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("api")
    media = base / "media"
    media.mkdir()
    app = Accessio(str(base / "catalog.db"))
    record = app.add_integration("media", "local", root=str(media))
    users = {name: _user(app, name) for name in ("alice", "bob", "carol", "dave")}
    users["root"] = _user(app, "root", admin=True)
    with app.engine.begin() as conn:
        for name in ("alice", "bob"):
            accounts.grant_integration(conn, record.id, users[name].principal.user_id or "")
    for name in ("alice", "bob"):
        _populate(app, users[name], media, record.id)
    alice = users["alice"]
    folder_service.share(app, alice.principal, alice.folder, "carol", Role.VIEWER)
    folder_service.share(app, alice.principal, alice.folder, "dave", Role.EDITOR)
    settings = ServerSettings(rate_limit=0, failed_auth_rate=0)
    with TestClient(create_app(settings, app)) as client:
        yield World(app, client, media, record.id, users)
    app.close()
