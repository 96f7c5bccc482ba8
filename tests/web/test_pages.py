"""The web app's routes in process: who may open what, sessions, CSRF, sign-in limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from accessio.api import ServerSettings, create_app
from accessio.catalog import accounts
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
    job = app.register(str(spec), folder="alice-only", integration="media")
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
         "/folders/{folder}/delete", "/folders/{folder}/items", "/folders/{folder}/import/check",
         "/folders/{folder}/import", "/items/{item}/metadata", "/metadata-schema/keys", "/integrations", "/tokens",
         "/logout"]  # fmt: skip


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
