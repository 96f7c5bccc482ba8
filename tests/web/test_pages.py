"""The web app's routes in process: who may open what, sessions, CSRF, sign-in limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from accessio.api import ServerSettings, create_app
from accessio.catalog import accounts
from accessio.catalog.schema import jobs
from accessio.service import Accessio
from accessio.service.passwords import set_password
from accessio.web.session import safe_next
from tests.samples import write_sample

PASSWORD = "a password of some length"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("pages")
    media = base / "media"
    write_sample(media / "a.jpg")
    app = Accessio(str(base / "catalog.db"))
    app.add_integration("media", "local", root=str(media))
    with app.engine.begin() as conn:
        for name in ("alice", "bob"):
            accounts.add_user(conn, name)
            set_password(conn, name, PASSWORD)
    app.create_folder("alice-only", owner="alice")
    spec = base / "spec.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": (media / "a.jpg").as_uri(), "title": "alice picture"}]}))
    # in a thread: the session's Playwright (sync API) keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(app.register, str(spec), folder="alice-only", integration="media").result()
    ids = {"folder": app.folder("alice-only").id, "item": app.items("alice-only")[0]["uuid"], "job": job.id}
    yield {"app": app, "ids": ids}
    app.close()


def _client(pages: dict[str, Any], who: str | None) -> TestClient[Any]:
    client: TestClient[Any] = TestClient(create_app(ServerSettings(rate_limit=0), pages["app"]))
    client.__enter__()
    if who:
        answer = client.post("/login", data={"name": who, "password": PASSWORD, "next": "/"}, follow_redirects=False)
        assert answer.status_code == 303
    return client


GETS = ["/", "/folders/{folder}", "/items/{item}", "/thumbs/{item}", "/jobs/bell", "/jobs/{job}",
        "/jobs/{job}/failures.csv", "/jobs/{job}/retry-spec.json", "/metadata-schema", "/map", "/map/points?key=x",
        "/tokens", "/integrations"]  # fmt: skip
POSTS = ["/folders", "/folders/{folder}/rename", "/folders/{folder}/move", "/folders/{folder}/share",
         "/folders/{folder}/delete", "/folders/{folder}/sync", "/folders/{folder}/items",
         "/folders/{folder}/import/check", "/folders/{folder}/import", "/items/{item}/metadata",
         "/metadata-schema/keys", "/integrations", "/tokens", "/logout"]  # fmt: skip


def test_every_page_needs_a_session(pages: dict[str, Any]) -> None:
    client = _client(pages, None)
    for path in GETS:
        answer = client.get(path.format(**pages["ids"]), follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    for path in POSTS:
        answer = client.post(path.format(**pages["ids"]), data={}, follow_redirects=False)
        assert (answer.status_code, answer.headers.get("location")) == (303, "/login"), path
    assert client.get("/login").status_code == 200


def test_changes_need_the_sessions_csrf_token(pages: dict[str, Any]) -> None:
    client = _client(pages, "alice")
    for path in POSTS:
        answer = client.post(path.format(**pages["ids"]), data={"name": "x"}, follow_redirects=False)
        assert answer.status_code == 403, path
        assert "reload the page" in answer.text
        wrong = client.post(path.format(**pages["ids"]), data={"csrf": "forged"}, follow_redirects=False)
        assert wrong.status_code == 403, path


def test_another_members_pages_are_not_found(pages: dict[str, Any]) -> None:
    bob = _client(pages, "bob")
    for path in (p for p in GETS if "{" in p):
        answer = bob.get(path.format(**pages["ids"]))
        assert answer.status_code == 404, path
        assert "alice" not in answer.text
    for path in ("/", "/jobs/bell"):
        assert "alice" not in bob.get(path).text


def test_pages_carry_the_security_headers_and_escape(pages: dict[str, Any]) -> None:
    alice = _client(pages, "alice")
    answer = alice.get(f"/folders/{pages['ids']['folder']}?where=%3Cscript%3E")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert "<script>" not in answer.text.replace('<script src="/static/htmx.min.js" defer></script>', "").replace(
        '<script src="/static/app.js" defer></script>', ""
    )
    assert "&lt;script&gt;" in answer.text


def test_sign_in_is_rate_limited_and_says_the_same_for_unknown_users(pages: dict[str, Any]) -> None:
    client = _client(pages, None)
    unknown = client.post("/login", data={"name": "nobody", "password": PASSWORD}, follow_redirects=False)
    wrong = client.post("/login", data={"name": "alice", "password": "not it at all"}, follow_redirects=False)
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong name or password." in unknown.text
    assert "Wrong name or password." in wrong.text
    codes = [client.post("/login", data={"name": "bob", "password": "nope nope nope"}).status_code for _ in range(12)]
    assert codes[-1] == 429


@pytest.mark.parametrize(
    ("target", "kept"),
    [("/folders/x?view=table", True), ("//evil.example", False), ("/\t/evil.example", False),
     ("https://evil.example/", False), ("/\\evil.example", False), ("", False), ("/ok path", False)],
)  # fmt: skip
def test_after_sign_in_only_a_path_of_this_site(target: str, kept: bool) -> None:
    assert safe_next(target) == (target if kept else "/")


def test_templates_and_static_files_ship_in_the_package() -> None:
    import accessio.web  # noqa: PLC0415

    root = Path(accessio.web.__file__).parent
    assert (root / "static" / "htmx.min.js").stat().st_size > 40_000
    assert {p.name for p in (root / "templates").glob("*.html")} >= {"base.html", "files.html", "item.html"}


def _csrf(client: TestClient[Any]) -> str:
    page = client.get("/tokens").text
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def test_folder_and_item_actions_through_the_pages(pages: dict[str, Any], tmp_path: Path) -> None:
    app, ids = pages["app"], pages["ids"]
    alice = _client(pages, "alice")
    csrf = _csrf(alice)
    made = alice.post("/folders", data={"csrf": csrf, "name": "work", "parent": ids["folder"]}, follow_redirects=False)
    assert made.status_code == 303
    work = made.headers["location"].split("?")[0].rsplit("/", 1)[-1]
    taken = alice.post("/folders", data={"csrf": csrf, "name": "work", "parent": ids["folder"]})
    assert taken.status_code == 400
    assert "already exists" in taken.text
    assert alice.post(f"/folders/{work}/rename", data={"csrf": csrf, "name": "done", "description": "d"},
                      follow_redirects=False).status_code == 303  # fmt: skip
    assert app.folder("alice-only/done").description == "d"
    moved = alice.post(f"/folders/{work}/move", data={"csrf": csrf, "parent": ""}, follow_redirects=False)
    assert moved.status_code == 303
    assert app.folder("done").id == work
    shared = alice.post(f"/folders/{work}/share", data={"csrf": csrf, "user": "bob", "role": "viewer"},
                        follow_redirects=False)  # fmt: skip
    assert shared.status_code == 303
    bob = _client(pages, "bob")
    assert bob.get(f"/folders/{work}").status_code == 200
    assert "Upload files" not in bob.get(f"/folders/{work}").text  # a viewer may not change it
    nobody = alice.post(f"/folders/{work}/share", data={"csrf": csrf, "user": "nobody", "role": "viewer"})
    assert nobody.status_code == 400
    assert "there is no user" in nobody.text

    item = ids["item"]
    moving = {"csrf": csrf, "item": item, "action": "move", "target": work}
    assert alice.post(f"/folders/{ids['folder']}/items", data=moving, follow_redirects=False).status_code == 303
    assert app.item(item)["parent"] == work
    refused = bob.post(f"/folders/{work}/items", data={"csrf": _csrf(bob), "item": item, "action": "delete"})
    assert refused.status_code == 403
    deleting = {"csrf": csrf, "item": item, "action": "delete"}
    assert alice.post(f"/folders/{work}/items", data=deleting, follow_redirects=False).status_code == 303
    assert app.items("done") == []
    assert alice.post(f"/folders/{work}/delete", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert [f.name for f in app.folders()] == ["alice-only"]


def test_schema_and_integration_pages_for_administrators(pages: dict[str, Any], tmp_path: Path) -> None:
    app = pages["app"]
    with app.engine.begin() as conn:
        accounts.add_user(conn, "root", is_admin=True)
        set_password(conn, "root", PASSWORD)
    root = _client(pages, "root")
    csrf = _csrf(root)
    enum = {"csrf": csrf, "key": "weather", "type": "enum", "values": "sun, rain"}
    added = root.post("/metadata-schema/keys", data=enum)
    assert added.status_code == 200
    assert "Added weather." in added.text
    more = root.post("/metadata-schema/keys/weather/options", data={"csrf": csrf, "values": "snow"})
    assert more.status_code == 200
    assert app.schema().type_of("weather").values == ("sun", "rain", "snow")  # type: ignore[union-attr]
    bad = root.post("/metadata-schema/keys", data={"csrf": csrf, "key": "$bad", "type": "number"})
    assert bad.status_code == 400
    assert "$bad" in bad.text
    assert root.post("/metadata-schema/keys/weather/delete", data={"csrf": csrf}).status_code == 200
    assert app.schema().type_of("weather") is None
    assert root.post("/metadata-schema/keys/weather/restore", data={"csrf": csrf}).status_code == 200
    assert app.schema().type_of("weather") is not None
    alice = _client(pages, "alice")
    refused = alice.post("/metadata-schema/keys", data={"csrf": _csrf(alice), "key": "x", "type": "number"})
    assert refused.status_code == 403
    assert alice.get("/integrations").status_code == 403

    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    form = {"csrf": csrf, "name": "more", "provider": "local", "access_mode": "server", "root": str(folder)}
    assert root.post("/integrations", data=form).status_code == 200
    record = app.integration_record("more")
    checked = root.post(f"/integrations/{record.id}/check", data={"csrf": csrf})
    assert "more reaches its storage: found" in checked.text
    granted = root.post(f"/integrations/{record.id}/grant", data={"csrf": csrf, "user": "alice"})
    assert granted.status_code == 200
    assert "alice may register through it." in granted.text
    wrong = root.post("/integrations", data={**form, "name": "bad", "root": str(tmp_path / "missing")})
    assert wrong.status_code == 400
    assert "is not a directory" in wrong.text


def test_a_synced_folder_page_says_where_it_follows_escaped(pages: dict[str, Any], tmp_path: Path) -> None:
    app = pages["app"]
    media = tmp_path / "cams"
    write_sample(media / "a.jpg")
    app.add_integration("cams", "local", root=str(media))
    folder = app.create_folder("alice <i>cams</i>", owner="alice", sync=("cams", media.as_uri()))
    client = _client(pages, "alice")
    before = client.get(f"/folders/{folder.id}").text
    assert "not synced yet" in before
    assert "accessio sync alice &lt;i&gt;cams&lt;/i&gt;" in before  # what a user wrote is escaped
    assert "<i>cams</i>" not in before
    assert f'action="/folders/{folder.id}/sync"' in before
    assert "+ Upload files" not in before  # a synced folder takes no spec
    bob = _client(pages, "bob")
    assert bob.post(f"/folders/{folder.id}/sync", data={"csrf": _csrf(bob)}).status_code == 404
    with app.engine.begin() as conn:
        accounts.share_folder(conn, folder.id, accounts.get_user(conn, "bob").id, accounts.Role.VIEWER)
    assert "Sync now" not in bob.get(f"/folders/{folder.id}").text
    assert bob.post(f"/folders/{folder.id}/sync", data={"csrf": _csrf(bob)}).status_code == 403  # a viewer
    plain = client.post(f"/folders/{pages['ids']['folder']}/sync", data={"csrf": _csrf(client)})
    assert plain.status_code == 400
    assert "is not synced" in plain.text
    started = client.post(f"/folders/{folder.id}/sync", data={"csrf": _csrf(client)}, follow_redirects=False)
    assert started.status_code == 303
    assert "Sync+started" in started.headers["location"]
    deadline = time.monotonic() + 30
    while "last synced" not in (after := client.get(f"/folders/{folder.id}").text):
        assert time.monotonic() < deadline, "the sync did not end"
        time.sleep(0.1)
    assert f"Synced from <code>{media.as_uri()}</code>, last synced" in after
    assert "a.jpg" in after
    with app.engine.connect() as conn:
        ran = conn.execute(sa.select(jobs.c.owner_id, jobs.c.status).where(jobs.c.folder_id == folder.id)).all()
        alice = accounts.get_user(conn, "alice")
    assert [(owner, status) for owner, status in ran] == [(alice.id, "DONE")]
