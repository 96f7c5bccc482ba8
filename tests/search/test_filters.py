"""Filters, sorts and keyset paging over real registered items, on SQLite and
PostgreSQL: every operator, the typed semantics, index use (EXPLAIN) and the CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.metadata_schema import EnumKey, Hint, Scalar
from accessio.cli import app as cli_app
from accessio.search import FilterError, sync_key_indexes
from accessio.search.indexes import NAME_INDEX, existing_indexes, key_index
from accessio.service import Accessio
from accessio.spec import Image, ImageMetadata, UploadSpec

FOLDER = "datasets/site"
LONG = "L" * 3000  # a valid varchar, past a PostgreSQL btree row: its index holds a prefix

# Registered before the schema has these keys: values that break the types to come.
LEGACY = {
    "legacy-1": {"frames": "12", "captured_at": "2024-02-30", "reviewed": "yes", "weather": "snowy"},
    "legacy-2": {"frames": True, "captured_at": "now"},
    "legacy-3": {"captured_at": 20240101, "site": 5},
}
# Registered after: (title, mime type, width, client metadata)
ITEMS: list[tuple[str, str, int, dict[str, Any]]] = [
    ("A.png", "image/png", 640, {"weather": "sunny", "frames": 150, "captured_at": "2024-03-01T10:00:00Z",
                                 "site": "Algiers", "reviewed": True, "score": 1.5, "tag": "x",
                                 "camera model": "X100", "lens.mm": 35, "width": 5}),
    ("b.jpg", "image/jpeg", 320, {"weather": "rainy", "frames": 50, "captured_at": "2024-01-01T00:00:00+01:00",
                                  "site": "Oran", "reviewed": False, "score": 2, "tag": "y"}),
    ("Big Cat.jpg", "image/jpeg", 1920, {"weather": "sunny", "frames": 100, "captured_at": "2023-06-15",
                                         "site": "oran", "camera model": "X100"}),
    ("caterpillar.jpg", "image/jpeg", 10, {}),
    ("100% pure.jpg", "image/jpeg", 10, {"weather": "cloudy", "frames": 1000.0,
                                         "captured_at": "2024-03-01t12:00:00,5+0200", "site": "Zürich",
                                         "reviewed": True, "tag": 1}),
    ("1000 x.jpg", "image/jpeg", 10, {"frames": -3, "captured_at": "2024-03-01T10:00:00.500Z", "site": "Algiers"}),
    ("ÉCOLE.jpg", "image/jpeg", 10, {"site": "école"}),
    ("long.jpg", "image/jpeg", 10, {"site": LONG}),
    ("spaced.jpg", "image/jpeg", 10, {"captured_at": "2024-03-01 11:00:00.5+01"}),
]  # fmt: skip
EVERYTHING = {*LEGACY, *(title for title, *_ in ITEMS)}


def register(app: Accessio, images: list[Image]) -> None:
    job = app.register(UploadSpec(images=images), folder=FOLDER, integration="media")
    assert job.to_json()["unitErrors"] == []


def sync(app: Accessio) -> None:
    with app.engine.begin() as conn:
        sync_key_indexes(conn, schema_store.load(conn))


@pytest.fixture
def app(catalog_url: str, tmp_path: Path) -> Iterator[Accessio]:
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(tmp_path))
        accessio.create_folder(FOLDER)
        meta = ImageMetadata("image/jpeg", 100, 10, 10)
        register(accessio, [Image(object_url=(tmp_path / f"{t}.jpg").as_uri(), title=t, client_metadata=m,
                                  image_metadata=meta) for t, m in LEGACY.items()])  # fmt: skip
        accessio.schema_add_scalar("frames", "number")
        accessio.schema_add_scalar("site", "varchar")
        accessio.schema_add_enum("weather", ["sunny", "rainy", "cloudy"])
        accessio.schema_add_scalar("captured_at", "datetime")
        accessio.schema_add_scalar("reviewed", "boolean")
        accessio.schema_add_scalar("camera model", "varchar")
        accessio.schema_add_scalar("lens.mm", "number")
        sync(accessio)
        register(
            accessio,
            [
                Image(object_url=(tmp_path / f"{n}.img").as_uri(), title=title, client_metadata=metadata or None,
                      image_metadata=ImageMetadata(mime, 1000 + n, width, width // 2))
                for n, (title, mime, width, metadata) in enumerate(ITEMS)
            ],
        )  # fmt: skip
        yield accessio


def names(app: Accessio, where: str, **options: Any) -> set[str]:
    return {item["name"] for item in app.items(FOLDER, where=where, limit=1000, **options)}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # numbers: JSON numbers only ("12" and true never match), compared numerically
        ("frames > 100", {"A.png", "100% pure.jpg"}),
        ("frames >= 100", {"A.png", "Big Cat.jpg", "100% pure.jpg"}),
        ("frames < 100", {"b.jpg", "1000 x.jpg"}),
        ("frames <= -3", {"1000 x.jpg"}),
        ("frames = 1000", {"100% pure.jpg"}),
        ("frames != 150", {"b.jpg", "Big Cat.jpg", "100% pure.jpg", "1000 x.jpg"}),
        ("frames in (50, 100, 7)", {"b.jpg", "Big Cat.jpg"}),
        # not: every item the condition misses, those without the key included
        ("not frames > 100", EVERYTHING - {"A.png", "100% pure.jpg"}),
        ("frames not in (50, 100)", EVERYTHING - {"b.jpg", "Big Cat.jpg"}),
        # enums and strings: exact, case-sensitive, byte order
        ('weather = "sunny"', {"A.png", "Big Cat.jpg"}),
        ('weather in ("rainy", "cloudy")', {"b.jpg", "100% pure.jpg"}),
        ('weather != "sunny"', {"b.jpg", "100% pure.jpg", "legacy-1"}),
        ('site = "oran"', {"Big Cat.jpg"}),
        ('site = "Oran"', {"b.jpg"}),
        ('site < "P"', {"A.png", "b.jpg", "1000 x.jpg", "long.jpg"}),
        ('site >= "a"', {"Big Cat.jpg", "ÉCOLE.jpg"}),
        (f'site = "{LONG}"', {"long.jpg"}),
        (f'site in ("{LONG}", "Oran")', {"long.jpg", "b.jpg"}),
        (f'site > "{LONG[:-1]}"', {"long.jpg", "b.jpg", "Big Cat.jpg", "ÉCOLE.jpg", "100% pure.jpg"}),
        ('`camera model` = "X100"', {"A.png", "Big Cat.jpg"}),
        ("lens.mm = 35", {"A.png"}),
        # like: % and _, case-insensitive for A-Z only (the same on both backends), \ escapes
        ('name like "%cat%"', {"Big Cat.jpg", "caterpillar.jpg"}),
        ('name like "%école%"', set()),
        ('name like "%COLE%"', {"ÉCOLE.jpg"}),
        ('name like "100\\\\%%"', {"100% pure.jpg"}),
        ('name like "1__0%"', {"1000 x.jpg"}),
        ('name not like "%.jpg"', {"A.png", *LEGACY}),
        ('site like "al%"', {"A.png", "1000 x.jpg"}),
        # datetimes: instants, whatever the offset or form; invalid values never match
        ("captured_at >= 2024-01-01", {"A.png", "100% pure.jpg", "1000 x.jpg", "spaced.jpg"}),
        ("captured_at <= 2024-01-01T00:00:00+01:00", {"b.jpg", "Big Cat.jpg"}),
        ("captured_at = 2024-03-01T12:00:00.5+02:00", {"100% pure.jpg", "1000 x.jpg", "spaced.jpg"}),
        ('captured_at < "2024-01-01"', {"b.jpg", "Big Cat.jpg"}),
        ("captured_at > 1900-01-01", {"A.png", "b.jpg", "Big Cat.jpg", "100% pure.jpg", "1000 x.jpg", "spaced.jpg"}),
        # booleans
        ("reviewed = true", {"A.png", "100% pure.jpg"}),
        ("reviewed = false", {"b.jpg"}),
        ("reviewed != true", {"b.jpg"}),
        ("not reviewed = true", EVERYTHING - {"A.png", "100% pure.jpg"}),
        # exists: a schema key holds a value of its type; another key holds anything but null
        ("exists(reviewed)", {"A.png", "b.jpg", "100% pure.jpg"}),
        ("not exists(frames)", {"caterpillar.jpg", "ÉCOLE.jpg", "long.jpg", "spaced.jpg", *LEGACY}),
        ("exists(tag)", {"A.png", "b.jpg", "100% pure.jpg"}),
        ("exists(`camera model`) and exists(width)", {"A.png", "Big Cat.jpg"}),
        # keys outside the schema compare as their literal's kind
        ("score > 1", {"A.png", "b.jpg"}),
        ('tag = "x"', {"A.png"}),
        ("tag = 1", {"100% pure.jpg"}),
        ('tag > "a"', {"A.png", "b.jpg"}),
        ("nothing = 1", set()),
        # built-in fields, and a metadata key of a built-in's name in backticks
        ("width > 600", {"A.png", "Big Cat.jpg"}),
        ("`width` = 5", {"A.png"}),
        ('mimeType = "image/png"', {"A.png"}),
        ('itemType = "image" and fileSize < 1003', {"A.png", "b.jpg", "Big Cat.jpg", *LEGACY}),
        ("createdAt > 2020-01-01 and lastEditedAt < 2100-01-01T00:00:00Z", EVERYTHING),
        # combinations
        ('weather = "sunny" and frames > 100 or site = "Oran"', {"A.png", "b.jpg"}),
        ('(weather = "sunny" or weather = "rainy") and not exists(reviewed)', {"Big Cat.jpg"}),
        (
            'not (site like "%a%" or site like "%o%")',
            {"caterpillar.jpg", "long.jpg", "100% pure.jpg", "spaced.jpg", *LEGACY},
        ),
    ],
)
def test_filters(app: Accessio, where: str, expected: set[str]) -> None:
    assert names(app, where) == expected


def test_a_uuid_and_the_item_type_option(app: Accessio) -> None:
    (first,) = app.items(FOLDER, where='name = "A.png"')
    assert names(app, f'uuid = "{first["uuid"]}"') == {"A.png"}
    assert names(app, 'frames > 0', item_type="video") == set()  # fmt: skip


def test_a_bad_filter_is_an_error_with_its_position(app: Accessio) -> None:
    with pytest.raises(FilterError) as caught:
        app.items(FOLDER, where='weather = "snowy"')
    assert caught.value.message == (
        'where: weather (enum): "snowy" is not one of its values ("sunny", "rainy", "cloudy") at column 11'
    )
    with pytest.raises(FilterError, match="too long: 20,010 characters, more than 8,192"):
        app.items(FOLDER, where="(" * 10_000 + "frames = 1" + ")" * 10_000)


# Sorting and paging


def _instant(value: Any) -> datetime | None:
    from accessio.search.filter_sql import _parse_moment  # noqa: PLC0415 - the same reading as the filters'

    if not isinstance(value, str):
        return None
    return _parse_moment(value.replace("t", "T").replace(" ", "T").replace(",", "."))


def sort_value(item: dict[str, Any], key: str) -> Any:
    """What a sort sees, computed here from the item's JSON: NULL unless of the key's type."""
    metadata = item["clientMetadata"]
    match key:
        case "name" | "width" | "fileSize":
            return item[key]
        case "createdAt":
            return datetime.fromisoformat(item[key])
        case "frames" | "lens.mm":
            value = metadata.get(key)
            return value if isinstance(value, int | float) and not isinstance(value, bool) else None
        case "reviewed":
            value = metadata.get(key)
            return value if isinstance(value, bool) else None
        case "captured_at":
            return _instant(metadata.get(key))
        case _:
            value = metadata.get(key.strip("`"))
            return value if isinstance(value, str) else None


def expected_order(items: list[dict[str, Any]], key: str, desc: bool) -> list[str]:
    valued = [(sort_value(i, key), i["uuid"]) for i in items if sort_value(i, key) is not None]
    empty = [i["uuid"] for i in items if sort_value(i, key) is None]
    return [u for _, u in sorted(valued, reverse=desc)] + sorted(empty, reverse=desc)


@pytest.mark.parametrize(
    "key", ["name", "frames", "captured_at", "site", "weather", "reviewed", "width", "fileSize", "createdAt",
            "`camera model`", "lens.mm"]
)  # fmt: skip
@pytest.mark.parametrize("desc", [False, True])
def test_sort_and_keyset_paging_list_every_item_once_in_order(app: Accessio, key: str, desc: bool) -> None:
    everything = app.items(FOLDER, limit=1000)
    expected = expected_order(everything, key, desc)
    seen: list[str] = []
    after = None
    for _ in range(len(everything) + 1):
        page = app.items_page(FOLDER, sort=key, desc=desc, limit=2, after=after)
        seen.extend(item["uuid"] for item in page.items)
        after = page.next_cursor
        if after is None:
            break
    assert seen == expected
    assert app.items(FOLDER, sort=key, desc=desc, limit=1000) == [
        next(i for i in everything if i["uuid"] == u) for u in expected
    ]


def test_paging_a_filtered_sort(app: Accessio) -> None:
    pages = []
    after = None
    while True:
        page = app.items_page(FOLDER, where="frames > -100", sort="frames", desc=True, limit=1, after=after)
        pages.append([item["name"] for item in page.items])
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert pages == [["100% pure.jpg"], ["A.png"], ["Big Cat.jpg"], ["b.jpg"], ["1000 x.jpg"]]


def test_cursors_belong_to_their_listing(app: Accessio) -> None:
    page = app.items_page(FOLDER, sort="frames", limit=2)
    assert page.next_cursor is not None
    with pytest.raises(FilterError) as caught:
        app.items_page(FOLDER, sort="site", limit=2, after=page.next_cursor)
    assert caught.value.message == "after: the cursor continues a listing sorted by frames: pass the same sort"
    with pytest.raises(FilterError, match="after: the cursor continues a listing sorted by frames descending"):
        app.items_page(FOLDER, sort="site", limit=2, after=app.items_page(FOLDER, sort="frames", desc=True,
                                                                         limit=1).next_cursor)  # fmt: skip
    wrong_type = base64.urlsafe_b64encode(b'[1,"frames",false,0,"s","x","id"]').decode()
    for garbage in ("%%%", "x", "eyJ9", wrong_type):
        with pytest.raises(FilterError, match=r"^after: not a cursor from this listing$"):
            app.items_page(FOLDER, sort="frames", after=garbage)


def test_sort_keys_must_have_a_known_type(app: Accessio) -> None:
    with pytest.raises(FilterError) as caught:
        app.items(FOLDER, sort="score")
    assert caught.value.message == (
        "sort: score is not a built-in field nor in the metadata schema: sorting needs a key of known type "
        "(add it to the schema) at column 1"
    )
    with pytest.raises(FilterError, match="sort: expected one field name at column 8"):
        app.items(FOLDER, sort="frames site")


# Indexes


def _plan(app: Accessio, **options: Any) -> str:
    """The plan of the statement that lists the page (EXPLAIN of what was executed)."""
    executed: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        executed.append((statement, parameters))

    sa.event.listen(app.engine, "before_cursor_execute", record)
    try:
        app.items(FOLDER, limit=10, **options)
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", record)
    # the first page query: the items with a value for the sort key (those without come after)
    statement, parameters = next((s, p) for s, p in executed if "ORDER BY" in s)
    with app.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in rows)
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


@pytest.fixture
def crowded(app: Accessio, tmp_path: Path) -> Accessio:
    """The folder with 3,000 more items without metadata, and fresh statistics: enough
    for an index to beat a scan in the planner's eyes."""
    meta = ImageMetadata("image/jpeg", 100, 10, 10)
    register(app, [Image(object_url=(tmp_path / f"{n}.more").as_uri(), image_metadata=meta) for n in range(3000)])
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return app


@pytest.mark.parametrize(
    ("where", "key", "key_type"),
    [
        ("frames > 100", "frames", Scalar(Hint.NUMBER)),
        ("captured_at >= 2024-01-01", "captured_at", Scalar(Hint.DATETIME)),
        ('weather in ("sunny", "rainy")', "weather", EnumKey(("sunny", "rainy", "cloudy"))),
        ('site = "Oran"', "site", Scalar(Hint.VARCHAR)),
        ("reviewed = true", "reviewed", Scalar(Hint.BOOLEAN)),
    ],
)
def test_a_typed_key_filter_uses_its_index(crowded: Accessio, where: str, key: str, key_type: Any) -> None:
    index = key_index(crowded.engine.dialect.name, key, key_type)
    assert index is not None
    assert index.name in _plan(crowded, where=where)


def test_a_sort_on_a_typed_key_uses_its_index(crowded: Accessio) -> None:
    index = key_index(crowded.engine.dialect.name, "frames", Scalar(Hint.NUMBER))
    assert index is not None
    plan = _plan(crowded, sort="frames")
    assert index.name in plan
    assert "TEMP B-TREE" not in plan  # the index gives the order
    assert "Sort" not in plan
    assert NAME_INDEX in _plan(crowded)


def test_sync_follows_the_schema(app: Accessio) -> None:
    dialect = app.engine.dialect.name
    with app.engine.connect() as conn:
        before = existing_indexes(conn)
    lens = key_index(dialect, "lens.mm", Scalar(Hint.NUMBER))
    assert lens is not None
    assert lens.name in before
    assert NAME_INDEX in before
    app.schema_delete("lens.mm", hard=True)
    app.schema_add_scalar("lens.mm", "varchar")
    app.schema_add_scalar("notes", "text")  # long text: no index
    sync(app)
    sync(app)  # again: nothing to do
    with app.engine.connect() as conn:
        after = existing_indexes(conn)
    as_text = key_index(dialect, "lens.mm", Scalar(Hint.VARCHAR))
    assert as_text is not None
    assert lens.name not in after
    assert as_text.name in after
    assert key_index(dialect, "notes", Scalar(Hint.TEXT)) is None
    assert len([n for n in after if n.startswith("ix_items_key_")]) == 7
    assert names(app, 'lens.mm = "35"') == set()  # the number 35 is not a varchar


# The command line


def test_cli_items_ls_where_sort_desc(app: Accessio, catalog_url: str) -> None:
    runner = CliRunner()
    env = {"ACCESSIO_CATALOG": catalog_url}
    base = ["items", "ls", "--folder", FOLDER]
    options = ["--where", "frames >= 100", "--sort", "frames", "--desc", "--json"]
    result = runner.invoke(cli_app, [*base, *options], env=env)
    assert result.exit_code == 0, result.stderr
    assert [item["name"] for item in json.loads(result.stdout)] == ["100% pure.jpg", "A.png", "Big Cat.jpg"]
    assert result.stderr == ""

    result = runner.invoke(cli_app, [*base, "--sort", "frames", "--limit", "2", "--json"], env=env)
    assert [item["name"] for item in json.loads(result.stdout)] == ["1000 x.jpg", "b.jpg"]
    prefix = "next page: --after "
    assert result.stderr.startswith(prefix)
    cursor = result.stderr.strip()[len(prefix) :]
    result = runner.invoke(cli_app, [*base, "--sort", "frames", "--limit", "2", "--after", cursor, "--json"], env=env)
    assert [item["name"] for item in json.loads(result.stdout)] == ["Big Cat.jpg", "A.png"]

    result = runner.invoke(cli_app, [*base, "--where", "frames > 100", "--sort", "captured_at"], env=env)
    assert result.exit_code == 0
    assert "A.png" in result.stdout

    where = 'weather = "sunny" and frames >'
    result = runner.invoke(cli_app, [*base, "--where", where], env=env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f'error: --where: expected a value after ">", found the end of the filter at column {len(where) + 1}',
        f"  {where}",
        " " * (2 + len(where)) + "^",
    ]
    result = runner.invoke(cli_app, [*base, "--sort", "nope"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --sort: nope is not a built-in field nor in the metadata schema")


# SQLite's plan: measured, then steered (listing.py); the answers are the same either way


@pytest.fixture
def numbered(catalog_url: str, tmp_path: Path) -> Iterator[Accessio]:
    """400 items: frames 0..399, site s0..s3 in turn."""
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(tmp_path))
        accessio.create_folder(FOLDER)
        accessio.schema_add_scalar("frames", "number")
        accessio.schema_add_scalar("site", "varchar")
        sync(accessio)
        meta = ImageMetadata("image/jpeg", 100, 10, 10)
        register(accessio, [Image(object_url=(tmp_path / f"{n}.jpg").as_uri(), title=f"item-{n:03d}",
                                  client_metadata={"frames": n, "site": f"s{n % 4}"}, image_metadata=meta)
                            for n in range(400)])  # fmt: skip
        yield accessio


@pytest.mark.parametrize(
    ("where", "sort", "plan"),
    [
        ("frames >= 0", None, "sort"),  # every item matches: reading names in order finds a page at once
        ('site = "s1" and frames < 30', None, "filter"),  # few items: read them through an index, sort them
        ('site = "s1" and frames >= 200', "frames", "sort"),  # the frames index orders; s1 is every 4th item
        ('site = "s1" and frames >= 200', None, "filter"),  # by name: only a quarter of the items to sort
    ],
)
def test_steered_plans_give_every_item_once(numbered: Accessio, where: str, sort: str | None, plan: str) -> None:
    executed: list[str] = []
    sa.event.listen(numbered.engine, "before_cursor_execute", lambda *args: executed.append(args[2]))
    pages, after = [], None
    while True:
        page = numbered.items_page(FOLDER, where=where, sort=sort, limit=3, after=after)
        pages.extend(item["clientMetadata"]["frames"] for item in page.items)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    everything = numbered.items(FOLDER, limit=1000)
    expected = [i["clientMetadata"]["frames"] for i in everything if _matches(where, i["clientMetadata"])]
    assert pages == sorted(expected)  # names and frames share their order here
    if numbered.engine.dialect.name == "sqlite":
        listing = next(s for s in executed if "AS sort_value" in s)  # the first page's
        # a "+" keeps the sort off its index when a condition's index drives
        assert listing.split("ORDER BY")[1].strip().lstrip("(").startswith("+ ") == (plan == "filter")


def _matches(where: str, metadata: dict[str, Any]) -> bool:
    frames, site = metadata["frames"], metadata["site"]
    return {
        "frames >= 0": True,
        'site = "s1" and frames < 30': site == "s1" and frames < 30,
        'site = "s1" and frames >= 200': site == "s1" and frames >= 200,
    }[where]
