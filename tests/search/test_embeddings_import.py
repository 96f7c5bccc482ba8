"""``import_embeddings``: vectors for registered items from a file, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from accessio.catalog.schema import embeddings
from accessio.jobs.embedding_import import EmbeddingImportInvalid
from accessio.service import Accessio
from accessio.spec import Image, ImageMetadata, UploadSpec, Video, VideoMetadata

META = ImageMetadata("image/jpeg", 100, 8, 8)


@pytest.fixture
def app(catalog_url: str, tmp_path: Path) -> Iterator[Accessio]:
    media = tmp_path / "media"
    media.mkdir()
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(media))
        accessio.schema_add_embedding("clip", 3)
        for folder in ("cars", "boats"):
            accessio.create_folder(folder)
        spec = UploadSpec(
            images=[Image(object_url=(media / f"{n}.jpg").as_uri(), title=n, image_metadata=META) for n in "abc"],
            videos=[
                Video(
                    object_url=(media / "v.mp4").as_uri(),
                    title="v",
                    video_metadata=VideoMetadata(25.0, 4.0, 64, 48, 100, "video/mp4"),
                )
            ],
        )
        accessio.register(spec, folder="cars", integration="media")
        twin = UploadSpec(images=[Image(object_url=(media / "a.jpg").as_uri(), title="a2", image_metadata=META)])
        accessio.register(twin, folder="boats", integration="media")  # the same URL in another folder
        yield accessio


def ids(app: Accessio) -> dict[str, str]:
    return {item["name"]: item["uuid"] for folder in ("cars", "boats") for item in app.items(folder)}


def write_lines(path: Path, entries: list[Any]) -> Path:
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in entries) + "\n")
    return path


def count(app: Accessio) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(embeddings)).scalar_one())


def test_json_lines_by_id_and_by_url_then_replaced(app: Accessio, tmp_path: Path) -> None:
    known = ids(app)
    media = tmp_path / "media"
    path = write_lines(
        tmp_path / "v.jsonl",
        [
            {"item": known["b"], "key": "clip", "vector": [0, 1, 0]},
            "",
            {"url": (media / "a.jpg").as_uri(), "folder": "cars", "key": "clip", "vector": [1, 0, 0]},
            {"url": (media / "c.jpg").as_uri(), "key": "clip", "vector": [0, 0, 1]},  # one folder holds it
            {"item": known["v"], "key": "clip", "frame": 50, "vector": [1, 1, 0]},
        ],
    )
    report = app.import_embeddings(path)
    assert (report.imported, report.replaced, report.items) == (4, 0, 4)
    assert app.item(known["v"])["embeddings"] == {"clip": {"size": 3, "frames": [50]}}
    (hit,) = app.similar("clip", vector=[1, 0.01, 0], k=1)
    assert hit.item_id == known["a"]
    again = app.import_embeddings(write_lines(tmp_path / "w.jsonl", [{"item": known["a"], "key": "clip",
                                                                       "vector": [0, -1, 0]}]))  # fmt: skip
    assert (again.imported, again.replaced) == (1, 1)
    assert app.similar("clip", vector=[1, 0.01, 0], k=1)[0].item_id == known["v"]
    assert count(app) == 4


def test_a_json_array_works_too(app: Accessio, tmp_path: Path) -> None:
    known = ids(app)
    path = tmp_path / "v.json"
    path.write_text(json.dumps([{"item": known["a2"], "key": "clip", "vector": [1, 2, 3]}]))
    assert app.import_embeddings(path).imported == 1
    assert app.item(known["a2"])["embeddings"] == {"clip": {"size": 3, "item": True}}


def test_any_problem_imports_nothing_and_every_problem_is_named(app: Accessio, tmp_path: Path) -> None:
    known = ids(app)
    media = tmp_path / "media"
    good = {"item": known["b"], "key": "clip", "vector": [0, 1, 0]}
    path = write_lines(
        tmp_path / "bad.jsonl",
        [
            good,  # line 1
            "{not json",  # line 2
            {"item": known["b"], "key": "clip", "vector": [1, 2]},  # 3
            {"item": known["b"], "key": "nope", "vector": [1, 2, 3]},  # 4
            {"item": "no-such-item", "key": "clip", "vector": [1, 2, 3]},  # 5
            {"item": known["a"], "key": "clip", "frame": 3, "vector": [1, 2, 3]},  # 6
            {"url": (media / "a.jpg").as_uri(), "key": "clip", "vector": [1, 2, 3]},  # 7: in two folders
            {"item": known["b"], "key": "clip", "vector": [3, 2, 1]},  # 8: b again
            {"item": known["c"], "key": "clip", "vector": [1, 2, 3], "extra": 1},  # 9
            {"item": known["v"], "key": "clip", "frame": -1, "vector": [1, 2, 3]},  # 10
            {"item": known["c"], "key": "clip", "vector": [0, 0, 0]},  # 11
            {"url": (media / "a.jpg").as_uri(), "folder": "trains", "key": "clip", "vector": [1, 2, 3]},  # 12
        ],
    )
    with pytest.raises(EmbeddingImportInvalid) as raised:
        app.import_embeddings(path)
    problems = raised.value.problems
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(2, 13)]
    by_line = {p.split(":")[0]: p for p in problems}
    assert "not JSON" in by_line["line 2"]
    assert "expected 3 numbers" in by_line["line 3"]
    assert "'nope' is not an embedding key" in by_line["line 4"].replace('"', "'")
    assert "not found" in by_line["line 5"]
    assert "frame is for videos" in by_line["line 6"]
    assert "2 items have the URL" in by_line["line 7"]
    assert "a second vector" in by_line["line 8"]
    assert "unknown field 'extra'" in by_line["line 9"]
    assert "frame must be a frame number" in by_line["line 10"]
    assert "zeros" in by_line["line 11"]
    assert "folder 'trains' not found" in by_line["line 12"]
    assert raised.value.total == 11
    assert raised.value.message.startswith(f"{path}: nothing imported: line 2")
    assert count(app) == 0  # not even line 1


def test_a_big_file_is_written_in_batches_in_one_transaction(
    app: Accessio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accessio.jobs import embedding_import  # noqa: PLC0415

    monkeypatch.setattr(embedding_import, "BATCH", 2)
    known = ids(app)
    entries = [{"item": known[n], "key": "clip", "vector": [1, i, 0]} for i, n in enumerate("abc")]
    assert app.import_embeddings(write_lines(tmp_path / "ok.jsonl", entries)).imported == 3
    changed = [{**entry, "vector": [0, 0, 1]} for entry in entries]
    late = [*changed, {"item": known["v"], "key": "clip", "vector": [1]}]  # the problem comes after a batch
    with pytest.raises(EmbeddingImportInvalid, match="line 4"):
        app.import_embeddings(write_lines(tmp_path / "late.jsonl", late))
    assert count(app) == 3
    (hit,) = app.similar("clip", vector=[1, 0, 0], k=1)  # the batch written before the problem was rolled back
    assert (hit.item_id, hit.distance) == (known["a"], pytest.approx(0.0, abs=1e-6))
