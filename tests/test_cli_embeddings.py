"""``accessio search similar`` and ``accessio embeddings import | map``: output shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image as PillowImage
from typer.testing import CliRunner

from accessio.cli import app
from accessio.service import Accessio
from accessio.spec import Image, ImageMetadata, UploadSpec

runner = CliRunner()
META = ImageMetadata("image/jpeg", 100, 8, 8)
VECTORS = {"east": [1, 0, 0], "north-east": [1, 1, 0], "north": [0, 1, 0], "up": [0, 0, 1]}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    catalog = tmp_path / "catalog.db"
    media = tmp_path / "media"
    media.mkdir()
    with Accessio(str(catalog)) as accessio:
        accessio.add_integration("media", "local", root=str(media))
        accessio.create_folder("f")
        accessio.schema_add_embedding("clip", 3)
        images = [
            Image(object_url=(media / f"{name}.jpg").as_uri(), title=name, image_metadata=META,
                  client_metadata={"clip": vector, "side": "east" if vector[0] else "other"})
            for name, vector in VECTORS.items()
        ]  # fmt: skip
        accessio.register(UploadSpec(images=images), folder="f", integration="media")
    return {"ACCESSIO_CATALOG": str(catalog)}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def uuid_of(env: dict[str, str], name: str) -> str:
    with Accessio(env["ACCESSIO_CATALOG"]) as accessio:
        return next(item["uuid"] for item in accessio.items("f") if item["name"] == name)


def test_similar_by_vector_and_by_item(env: dict[str, str], tmp_path: Path) -> None:
    query = tmp_path / "q.json"
    query.write_text("[1, 0.1, 0]")
    code, out, _ = invoke(env, "search", "similar", "--vector", str(query), "--key", "clip", "--k", "2", "--json")
    assert code == 0
    hits = json.loads(out)
    assert [h["item"]["name"] for h in hits] == ["east", "north-east"]
    assert set(hits[0]) == {"item", "frame", "distance"}
    assert hits[0]["frame"] is None
    assert hits[0]["distance"] < hits[1]["distance"]
    assert hits[0]["item"]["uuid"] == uuid_of(env, "east")
    assert hits[0]["item"]["embeddings"] == {"clip": {"size": 3, "item": True}}
    code, out, _ = invoke(env, "search", "similar", "--item", uuid_of(env, "north"), "--key", "clip", "--k", "1")
    assert code == 0
    assert "north-east" in out
    code, out, _ = invoke(env, "search", "similar", "--vector", str(query), "--key", "clip", "--where",
                          'side = "other"', "--json")  # fmt: skip
    assert code == 0
    assert [h["item"]["name"] for h in json.loads(out)] == ["north", "up"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--key", "clip"], 2, "give --item or --vector"),
        (["--key", "clip", "--vector", "missing.json"], 2, "cannot be read"),
        (["--key", "clip", "--vector", "{q}", "--item", "x"], 2, "give --item or --vector"),
        (["--key", "nope", "--vector", "{q}"], 1, "not a key of the metadata schema"),
        (["--key", "clip", "--item", "no-such-item"], 1, "no embeddings under that key"),
        (["--key", "clip", "--vector", "{bad}"], 2, "expected a JSON array of numbers"),
        (["--key", "clip", "--vector", "{q}", "--where", "side = "], 1, "error:"),
    ],
)
def test_similar_refuses_what_it_cannot_do(
    env: dict[str, str], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    (tmp_path / "q.json").write_text("[1, 0, 0]")
    (tmp_path / "bad.json").write_text('{"v": [1, 0, 0]}')
    filled = [a.format(q=tmp_path / "q.json", bad=tmp_path / "bad.json") for a in args]
    exit_code, _, err = invoke(env, "search", "similar", *filled)
    assert exit_code == code
    assert message in err


def test_embeddings_import(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "v.jsonl"
    good.write_text(json.dumps({"item": uuid_of(env, "up"), "key": "clip", "vector": [1, 0, 0.01]}) + "\n")
    code, out, _ = invoke(env, "embeddings", "import", str(good), "--json")
    assert code == 0
    assert json.loads(out) == {"imported": 1, "replaced": 1, "items": 1}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item": "x", "key": "clip", "vector": [1]}\nnot json\n')
    code, _, err = invoke(env, "embeddings", "import", str(bad))
    assert code == 1
    assert "nothing imported, 2 problems" in err
    assert "line 1: vector: expected 3 numbers" in err
    assert "line 2: not JSON" in err


def test_embeddings_map_writes_a_png(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "map.png"
    code, out, _ = invoke(env, "embeddings", "map", "clip", "--color-by", "side", "-o", str(target))
    assert code == 0
    assert f"wrote {target}: 4 of 4 vectors" in out
    with PillowImage.open(target) as image:
        assert (image.format, image.size) == ("PNG", (1000, 800))
    code, out, _ = invoke(env, "embeddings", "map", "clip", "-o", str(tmp_path / "m.png"), "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["key"], shown["method"], shown["total"], len(shown["points"])) == ("clip", "pca", 4, 4)
    code, _, err = invoke(env, "embeddings", "map", "side", "-o", str(tmp_path / "x.png"))
    assert code == 1
    assert "not an embedding key" in err


def test_embeddings_map_without_matplotlib_says_so(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accessio.search import map_image  # noqa: PLC0415  (the command imports it when it runs)

    monkeypatch.setattr(map_image, "matplotlib_available", lambda: False)
    code, _, err = invoke(env, "embeddings", "map", "clip", "-o", str(tmp_path / "map.png"))
    assert code == 2
    assert "needs matplotlib: pip install 'accessio[map]'" in err
    assert not (tmp_path / "map.png").exists()
