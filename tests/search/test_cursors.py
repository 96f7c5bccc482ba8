"""Tampered cursors: whatever ``--after`` (or the API's ``after`` / ``pageToken``)
carries, the answer is a page or a located error, never a crash, on both backends."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from typer.testing import CliRunner

from accessio.api import ServerSettings, create_app
from accessio.catalog import accounts
from accessio.cli import app as cli_app
from accessio.search import FilterError
from accessio.service import OPERATOR, Accessio
from accessio.service import folders as folder_service
from accessio.service.folders import BadPageToken
from accessio.spec import Image, ImageMetadata, UploadSpec

FOLDER = "cursors"
SORTS = ("width", "name", "createdAt", "isTombstone", "frames", "site", "captured_at", "reviewed")


def cursor_of(payload: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(payload)).decode().rstrip("=")


@pytest.fixture
def app(catalog_url: str, tmp_path: Path) -> Iterator[Accessio]:
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(tmp_path))
        accessio.create_folder(FOLDER)
        accessio.schema_add_scalar("frames", "number")
        accessio.schema_add_scalar("site", "varchar")
        accessio.schema_add_scalar("captured_at", "datetime")
        accessio.schema_add_scalar("reviewed", "boolean")
        metadata = [
            {"frames": 10, "site": "Oran", "captured_at": "2024-03-01T10:00:00Z", "reviewed": True},
            {"frames": 2.5, "site": "Algiers", "captured_at": "2023-01-01", "reviewed": False},
            {"frames": 10**30, "site": "Zürich"},
            {},
        ]
        images = [
            Image(
                object_url=(tmp_path / f"{n}.jpg").as_uri(),
                image_metadata=ImageMetadata("image/jpeg", 100, 10 + n, 10),
                client_metadata=meta,
            )
            for n, meta in enumerate(metadata)
        ]
        job = accessio.register(UploadSpec(images=images), folder=FOLDER, integration="media")
        assert job.to_json()["unitErrors"] == []
        yield accessio


def test_every_sort_pages_through_with_its_own_cursors(app: Accessio) -> None:
    """The checks added against tampering refuse none of the cursors the listing gives."""
    for sort in SORTS:
        for desc in (False, True):
            seen: list[str] = []
            after = None
            while True:
                page = app.items_page(FOLDER, sort=sort, desc=desc, limit=1, after=after)
                seen.extend(item["uuid"] for item in page.items)
                if page.next_cursor is None:
                    break
                after = page.next_cursor
            assert len(seen) == len(set(seen)) == 4, (sort, desc)


HUGE = [2**63, -(2**63) - 1, 10**30, 10**400, 2**64]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(HUGE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["\x00", "a\x00b", "1e999999", "-0", "NaN", "Infinity", "0001-01-01T00:00:00+01:00",
                       "9999-12-31T23:59:59-01:00", "2024-01-01", "2024-01-01T00:00:00Z", "1E+200000"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)  # fmt: skip
tags = st.sampled_from(["n", "b", "i", "f", "d", "t", "s"]) | json_values
payloads = st.tuples(
    st.sampled_from([1]) | json_values,
    st.sampled_from(SORTS) | json_values,
    st.booleans() | json_values,
    st.sampled_from([0, 1]) | json_values,
    tags,
    json_values,
    st.sampled_from(["00000000-0000-0000-0000-000000000000", "z" * 101, "a\x00"]) | json_values,
).map(list)
cursors = (
    payloads.map(cursor_of)
    | st.lists(json_values, max_size=9).map(cursor_of)
    | st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode())
    | st.text(max_size=30)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cursor=cursors, sort=st.sampled_from(SORTS), desc=st.booleans())
def test_any_cursor_gives_a_page_or_a_located_error(app: Accessio, cursor: str, sort: str, desc: bool) -> None:
    refused: FilterError | None = None
    try:
        app.items_page(FOLDER, sort=sort, desc=desc, limit=2, after=cursor)
    except FilterError as exc:
        refused = exc
    assert refused is None or (refused.option == "after" and refused.message.startswith("after: "))


@pytest.mark.parametrize(
    "payload",
    [
        [1, "width", False, 0, "i", 2**70, "x"],  # the OverflowError of the report
        [1, "width", False, 0, "d", "1E+5", "x"],
        [1, "createdAt", False, 0, "f", 1.5, "x"],
        [1, "site", False, 0, "s", "a", "a\x00"],
        [1, "captured_at", False, 0, "t", "0001-01-01T00:00:00+01:00", "x"],
        {"not": "a list"},
        [1, "width", False, 0, "i", 1],
    ],
)
def test_tampered_cursors_are_refused(app: Accessio, payload: Any) -> None:
    sort = payload[1] if isinstance(payload, list) else "width"
    with pytest.raises(FilterError, match=r"^after: not a cursor from this listing$"):
        app.items_page(FOLDER, sort=sort, after=cursor_of(payload))


def test_the_cli_says_so_and_exits_2(app: Accessio, catalog_url: str) -> None:
    huge = cursor_of([1, "width", False, 0, "i", 10**30, "00000000-0000-0000-0000-000000000000"])
    wrong_sort = app.items_page(FOLDER, sort="name", limit=1).next_cursor
    assert wrong_sort is not None
    runner = CliRunner()
    for cursor, message in (
        (huge, "error: --after: not a cursor from this listing"),
        ("%%%", "error: --after: not a cursor from this listing"),
        (wrong_sort, "error: --after: the cursor continues a listing sorted by name: pass the same sort"),
    ):
        args = ["items", "ls", "--folder", FOLDER, "--sort", "width", "--after", cursor]
        result = runner.invoke(cli_app, args, env={"ACCESSIO_CATALOG": catalog_url})
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == message
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_api_answers_400_with_the_issue(tmp_path: Path) -> None:
    with Accessio(str(tmp_path / "catalog.db")) as app:
        folder_id = app.create_folder(FOLDER).id
        with app.engine.begin() as conn:
            user = accounts.add_user(conn, "root", is_admin=True)
            _, token = accounts.create_token(conn, user.id, label="tests")
        headers = {"Authorization": f"Bearer {token}"}
        huge = cursor_of([1, "width", False, 0, "i", 10**30, "00000000-0000-0000-0000-000000000000"])
        with TestClient(create_app(ServerSettings(rate_limit=0, failed_auth_rate=0), app)) as client:
            for url, params in (
                (f"/api/folders/{folder_id}/items", {"sort": "width", "after": huge}),
                (f"/v2/public/storage/folders/{folder_id}/items", {"pageToken": huge}),
                (f"/api/folders/{folder_id}/items", {"after": "\u00e9\u00e9"}),
            ):
                response = client.get(url, headers=headers, params=params)
                assert response.status_code == 400, response.text
                body = response.json()
                assert body["message"].startswith("after: "), body
                assert [issue["location"] for issue in body["issues"]] == ["after"]
                assert body["issues"][0]["message"] in (
                    "not a cursor from this listing",
                    "the cursor continues a listing sorted by width: pass the same sort",
                )
                json.dumps(body)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    token=st.tuples(st.sampled_from(["name", "createdAt"]) | json_values, st.booleans() | json_values,
                    json_values, json_values).map(list).map(cursor_of)
    | st.builds(lambda order, value: cursor_of([order, False, value, "a\x00"]),
                st.sampled_from(["name", "createdAt"]), st.sampled_from(["a\x00", "0001-01-01T00:00:00+01:00", "x"])),
    order=st.sampled_from(["name", "createdAt"]),
)  # fmt: skip
def test_folder_page_tokens_too(app: Accessio, token: str, order: str) -> None:
    refused: BadPageToken | None = None
    try:
        folder_service.list_folders(app, OPERATOR, order=order, page_token=token)
    except BadPageToken as exc:
        refused = exc
    assert refused is None or refused.message.startswith("pageToken is not a token this listing gave")
