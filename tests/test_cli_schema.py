"""``accessio schema``: outputs, JSON shapes and exit codes (the rules themselves are
pinned in tests/catalog/test_metadata_schema.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accessio.catalog.schema import items
from accessio.cli import app
from accessio.service import Accessio

runner = CliRunner()


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    return str(tmp_path / "catalog.db")


def run(catalog: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["schema", *args, "--catalog", catalog])
    return result.exit_code, result.stdout, result.stderr


def test_add_commands_print_what_they_added(catalog: str) -> None:
    assert run(catalog, "add-scalar", "frames", "number") == (0, 'added key "frames": number\n', "")
    assert run(catalog, "add-scalar", "title", "string") == (0, 'added key "title": varchar\n', "")
    assert run(catalog, "add-enum", "weather", "sunny", "rain") == (
        0,
        'added key "weather": enum: "sunny", "rain"\n',
        "",
    )
    assert run(catalog, "add-enum-options", "weather", "fog") == (
        0,
        'extended key "weather": enum: "sunny", "rain", "fog"\n',
        "",
    )
    assert run(catalog, "add-embedding", "clip", "512") == (0, 'added key "clip": embedding, size 512\n', "")
    assert run(catalog, "add-geospatial", "site place") == (
        0,
        'added key "site place": geospatial {latitude, longitude}\n',
        "",
    )
    assert run(catalog, "add-scalar", "when", "datetime", "--json") == (
        0,
        '{"when":{"ty":"variant","hint":"datetime"}}\n',
        "",
    )


def test_show_json_is_the_export(catalog: str) -> None:
    run(catalog, "add-scalar", "frames", "number")
    run(catalog, "add-enum", "weather", "sunny")
    run(catalog, "add-scalar", "gone", "uuid")
    run(catalog, "delete", "gone")
    code, exported, _ = run(catalog, "export")
    assert code == 0
    assert json.loads(exported) == {
        "frames": {"ty": "variant", "hint": "number"},
        "gone": {"ty": "tombstone", "deleted_ty": {"ty": "variant", "hint": "uuid"}},
        "weather": {"ty": "enum", "values": ["sunny"]},
    }
    assert run(catalog, "show", "--json") == (0, exported, "")


def test_show_prints_a_table(catalog: str) -> None:
    assert run(catalog, "show") == (0, "the metadata schema is empty\n", "")
    run(catalog, "add-scalar", "frames", "number")
    run(catalog, "add-scalar", "gone", "uuid")
    run(catalog, "delete", "gone")
    run(catalog, "add-scalar", "hard", "text")
    run(catalog, "delete", "hard", "--hard")
    code, shown, _ = run(catalog, "show")
    assert code == 0
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in shown.splitlines() if line.startswith("│")]
    assert rows == [
        ["frames", "number"],
        ["gone", "deleted (restorable: uuid)"],
        ["hard", "deleted (hard: cannot be restored)"],
    ]


def test_delete_and_restore(catalog: str) -> None:
    run(catalog, "add-enum", "weather", "sunny")
    assert run(catalog, "delete", "weather") == (0, 'deleted key "weather": deleted (restorable: enum: "sunny")\n', "")
    assert run(catalog, "restore", "weather") == (0, 'restored key "weather": enum: "sunny"\n', "")
    assert run(catalog, "delete", "weather", "--hard", "--json") == (
        0,
        '{"weather":{"ty":"tombstone","deleted_ty":null}}\n',
        "",
    )
    assert run(catalog, "restore", "weather") == (
        1,
        "",
        'error: key "weather" was hard-deleted: its type cannot be restored\n',
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-scalar", "keyframes", "number"], 'error: key "keyframes": the key is reserved\n'),
        (["add-scalar", "$x", "number"], "error: key \"$x\": keys starting with '$' are reserved\n"),
        (["add-scalar", "a/b", "number"], "error: key \"a/b\": '/' is not allowed in a key (letters, digits"),
        (["add-scalar", "k", "int"], 'error: "int" is not a scalar type: use one of number, varchar, text'),
        (["add-embedding", "k", "4097"], "error: embedding size 4097 is not a whole number in 1..4096\n"),
        (["add-enum-options", "k", "x"], 'error: key "k" is not in the schema\n'),
        (["delete", "k"], 'error: key "k" is not in the schema\n'),
    ],
)
def test_refused_requests_exit_1_with_the_reason(catalog: str, args: list[str], message: str) -> None:
    code, printed, errors = run(catalog, *args)
    assert (code, printed) == (1, "")
    assert errors.startswith(message)


def test_misuse_exits_2(catalog: str, tmp_path: Path) -> None:
    assert run(catalog, "add-embedding", "clip", "big")[0] == 2
    assert run(catalog, "verify", "--limit", "0")[0] == 2
    missing = tmp_path / "missing.json"
    assert run(catalog, "import", str(missing)) == (
        2,
        "",
        f"error: {missing}: cannot read the file: No such file or directory\n",
    )


def test_import_replaces_the_schema_from_a_file(catalog: str, tmp_path: Path) -> None:
    run(catalog, "add-scalar", "old", "number")
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"frames": {"ty": "variant", "hint": "long_string"}, "site": {"ty": "geospatial"}}))
    assert run(catalog, "import", str(path)) == (0, f"imported 2 keys from {path}\n", "")
    assert json.loads(run(catalog, "export")[1]) == {
        "frames": {"ty": "variant", "hint": "text"},
        "site": {"ty": "geospatial"},
    }


def test_an_invalid_import_file_lists_its_problems_and_changes_nothing(catalog: str, tmp_path: Path) -> None:
    run(catalog, "add-scalar", "frames", "number")
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"ok": {"ty": "geospatial"}, "$a": {"ty": "geospatial"}, "b": {"ty": "enum", "values": []}})
    )
    assert run(catalog, "import", str(path)) == (
        1,
        "",
        f"error: {path}: key \"$a\": keys starting with '$' are reserved (and 1 more)\n"
        '  key "b": an enum needs at least one value\n',
    )
    twice = tmp_path / "twice.json"
    twice.write_text('{"a": {"ty": "geospatial"}, "a": {"ty": "geospatial"}}')
    assert run(catalog, "import", str(twice)) == (
        1,
        "",
        f'error: {twice}: not a JSON document: the key "a" appears twice\n',
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": ')
    code, _, errors = run(catalog, "import", str(broken))
    assert (code, errors.startswith(f"error: {broken}: not a JSON document:")) == (1, True)
    assert json.loads(run(catalog, "export")[1]) == {"frames": {"ty": "variant", "hint": "number"}}


def test_verify_exits_1_and_lists_violations(catalog: str) -> None:
    assert run(catalog, "verify") == (0, "every stored value matches the schema\n", "")
    with Accessio(catalog) as accessio:
        folder = accessio.create_folder("cars")
        item_id = "6f1c2a4e-9b7d-4c1e-8a2f-0d3b5e7c9a11"
        now = datetime.now(UTC)
        with accessio.engine.begin() as conn:
            conn.execute(
                items.insert().values(
                    id=item_id,
                    folder_id=folder.id,
                    item_type="image",
                    name="a.jpg",
                    url="file:///a.jpg",
                    client_metadata={"frames": "12"},
                    created_at=now,
                    updated_at=now,
                )
            )
    run(catalog, "add-scalar", "frames", "number")
    assert run(catalog, "verify") == (1, f'a.jpg ({item_id}): key "frames": expected number, got "12" (a string)\n', "")
    code, printed, _ = run(catalog, "verify", "--json")
    assert code == 1
    assert json.loads(printed) == [
        {
            "itemId": item_id,
            "itemName": "a.jpg",
            "key": "frames",
            "expected": "number",
            "value": "12",
            "problem": "a string",
        }
    ]
    run(catalog, "delete", "frames")
    assert run(catalog, "verify", "--json") == (0, "[]\n", "")
