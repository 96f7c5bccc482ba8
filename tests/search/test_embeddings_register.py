"""Embeddings imported during registration (SPEC section 5, "Custom embeddings"), on
both backends: values under embedding keys, video frames under ``$encord``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image as PilImage
from tests.samples import write_sample

from accessio.catalog.schema import embeddings
from accessio.service import Accessio
from accessio.spec import Image, ImageGroup, ImageMetadata, UploadSpec, Video, VideoMetadata

META = ImageMetadata("image/jpeg", 100, 8, 8)
VIDEO = VideoMetadata(25.0, 10.0, 64, 48, 1000, "video/mp4")  # 250 frames


@pytest.fixture
def app(catalog_url: str, tmp_path: Path) -> Iterator[Accessio]:
    (tmp_path / "media").mkdir()
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(tmp_path / "media"))
        accessio.create_folder("cars")
        accessio.schema_add_embedding("clip", 4)
        accessio.schema_add_scalar("weather", "varchar")
        yield accessio


def url(tmp_path: Path, name: str) -> str:
    return (tmp_path / "media" / name).as_uri()


def by_name(app: Accessio) -> dict[str, dict[str, Any]]:
    return {item["name"]: app.item(item["uuid"]) for item in app.items("cars", limit=1000)}


def stored(app: Accessio, item_id: str) -> dict[int | None, list[float]]:
    """An item's vectors under "clip", by frame, read back from the catalog."""
    with app.engine.connect() as conn:
        rows = conn.execute(
            sa.select(embeddings.c.frame, embeddings.c.id).where(
                embeddings.c.item_id == item_id, embeddings.c.key == "clip"
            )
        ).all()
    from accessio.catalog.embeddings import vector_of  # noqa: PLC0415

    out: dict[int | None, list[float]] = {}
    with app.engine.connect() as conn:
        for frame, _ in rows:
            found = vector_of(conn, item_id, "clip", frame)
            assert found is not None
            out[frame] = found[1].tolist()
    return out


def register(app: Accessio, spec: UploadSpec, **flags: Any) -> dict[str, Any]:
    return app.register(spec, folder="cars", integration="media", ignore_errors=True, **flags).to_json()


def test_images_groups_and_sequences_keep_their_vectors_apart_from_client_metadata(
    app: Accessio, tmp_path: Path
) -> None:
    app.set_write_prefix("media", str(tmp_path / "media" / "videos"))  # the sequence's video is written there
    for name in ("s1.jpg", "s2.jpg"):  # its frames are read to encode it
        PilImage.new("RGB", (32, 24), (40, 90, 200)).save(tmp_path / "media" / name)
    spec = UploadSpec(
        images=[
            Image(
                object_url=url(tmp_path, "a.jpg"),
                title="A",
                image_metadata=META,
                client_metadata={"clip": [1, 0.5, -2, 0.25], "weather": "sunny", "free": [1, 2]},
            )
        ],
        image_groups=[
            ImageGroup(
                urls=(url(tmp_path, "g1.jpg"), url(tmp_path, "g2.jpg")),
                title="G",
                member_metadata=(META, META),
                client_metadata={"clip": [0, 1, 0, 0]},
            ),
            ImageGroup(
                urls=(url(tmp_path, "s1.jpg"), url(tmp_path, "s2.jpg")),
                title="S",
                member_metadata=(META, META),
                create_video=True,
                client_metadata={"clip": [0, 0, 3, 0]},
            ),
        ],
    )
    shown = register(app, spec)
    assert shown["counts"]["created"] == 3, shown["unitErrors"]
    found = by_name(app)
    assert found["S"]["itemType"] == "imageSequence"
    # the vectors are in the embeddings table, exactly as given (float32); client metadata keeps the rest
    assert stored(app, found["A"]["uuid"]) == {None: [1.0, 0.5, -2.0, 0.25]}
    assert stored(app, found["G"]["uuid"]) == {None: [0.0, 1.0, 0.0, 0.0]}
    assert stored(app, found["S"]["uuid"]) == {None: [0.0, 0.0, 3.0, 0.0]}
    assert found["A"]["clientMetadata"] == {"weather": "sunny", "free": [1, 2]}  # a key not in the schema stays
    assert found["A"]["embeddings"] == {"clip": {"size": 4, "item": True}}
    assert all("children" in found[name] and "embeddings" not in found[name]["children"][0] for name in "GS")


def frames_of(app: Accessio, name: str) -> list[int | None]:
    return sorted(stored(app, by_name(app)[name]["uuid"]), key=lambda f: -1 if f is None else f)


def video(tmp_path: Path, title: str, encord: Any, meta: VideoMetadata | None = VIDEO) -> Video:
    return Video(
        object_url=url(tmp_path, f"{title}.mp4"), title=title, video_metadata=meta, client_metadata={"$encord": encord}
    )


def vec(n: float) -> list[float]:
    return [1.0, n, 0.0, 0.0]


def test_video_frames_in_object_form_with_the_default_sampling(app: Accessio, tmp_path: Path) -> None:
    """Default: 1 frame per second (every 25th frame at 25 fps), plus keyframes, plus frame 0."""
    not_key = {"$encord": {"keyframe": False}}
    frames = {
        "0": {"clip": vec(0), **not_key},  # frame 0: always in, keyframe or not
        "12": {"clip": vec(12), **not_key},  # neither a keyframe nor sampled: not imported
        "25": {"clip": vec(25), **not_key},  # sampled (1 s)
        "30": {"clip": vec(30), "weather": "rain"},  # a keyframe
        "37": {"clip": vec(37), "$encord": {"keyframe": True}},
        "40": {"weather": "fog"},  # a keyframe without a vector
    }
    shown = register(app, UploadSpec(videos=[video(tmp_path, "v", {"frames": frames})]))
    assert shown["counts"]["created"] == 1, shown["unitErrors"]
    assert frames_of(app, "v") == [0, 25, 30, 37]
    item = by_name(app)["v"]
    assert stored(app, item["uuid"])[30] == vec(30)
    # the frames stay in client metadata without their vectors; markers and other keys kept
    assert item["clientMetadata"]["$encord"]["frames"] == {
        "0": not_key,
        "12": not_key,
        "25": not_key,
        "30": {"weather": "rain"},
        "37": {"$encord": {"keyframe": True}},
        "40": {"weather": "fog"},
    }
    assert item["embeddings"] == {"clip": {"size": 4, "frames": [0, 25, 30, 37]}}


def test_sampling_rate_zero_imports_frame_zero_and_keyframes_only(app: Accessio, tmp_path: Path) -> None:
    not_key = {"$encord": {"keyframe": False}}
    frames = {"0": {"clip": vec(0), **not_key}, "25": {"clip": vec(25), **not_key}, "60": {"clip": vec(60)}}
    encord = {"config": {"sampling_rate": 0}, "frames": frames}
    assert register(app, UploadSpec(videos=[video(tmp_path, "v", encord)]))["counts"]["created"] == 1
    assert frames_of(app, "v") == [0, 60]


def test_a_higher_sampling_rate_picks_more_frames(app: Accessio, tmp_path: Path) -> None:
    not_key = {"$encord": {"keyframe": False}}
    frames = {str(n): {"clip": vec(n), **not_key} for n in (5, 10, 12, 15)}
    encord = {"config": {"sampling_rate": 5, "keyframe_mode": "frame"}, "frames": frames}  # every 5th frame
    assert register(app, UploadSpec(videos=[video(tmp_path, "v", encord)]))["counts"]["created"] == 1
    assert frames_of(app, "v") == [5, 10, 15]


def test_seconds_mode_places_frames_by_the_supplied_fps(app: Accessio, tmp_path: Path) -> None:
    encord = {"config": {"keyframe_mode": "seconds"}, "frames": {"0.5": {"clip": vec(1)}, "2": {"clip": vec(2)}}}
    assert register(app, UploadSpec(videos=[video(tmp_path, "v", encord)]))["counts"]["created"] == 1
    assert frames_of(app, "v") == [13, 50]  # 0.5 s x 25 fps = 12.5, rounded half up; 2 s = frame 50


def test_seconds_mode_uses_the_probed_fps_and_frame_count(app: Accessio, tmp_path: Path) -> None:
    write_sample(tmp_path / "media" / "real.mp4")  # 10 frames at 25 fps, probed
    encord = {"config": {"keyframe_mode": "seconds"}, "frames": {"0.2": {"clip": vec(1)}}}
    ok = register(app, UploadSpec(videos=[video(tmp_path, "real", encord, meta=None)]))
    assert ok["counts"]["created"] == 1, ok["unitErrors"]
    assert frames_of(app, "real") == [5]
    past = {"config": {"keyframe_mode": "seconds"}, "frames": {"2": {"clip": vec(1)}}}  # frame 50 of 10
    write_sample(tmp_path / "media" / "real2.mp4")
    failed = register(app, UploadSpec(videos=[video(tmp_path, "real2", past, meta=None)]))
    assert failed["counts"]["error"] == 1
    assert "frame 50 is past the video's last frame (9)" in failed["unitErrors"][0]["error"]


def test_the_list_form_marks_keyframes_and_imports_no_vectors(app: Accessio, tmp_path: Path) -> None:
    encord = {"config": {"sampling_rate": 0}, "frames": [0, 10, 20]}
    assert register(app, UploadSpec(videos=[video(tmp_path, "v", encord)]))["counts"]["created"] == 1
    item = by_name(app)["v"]
    assert stored(app, item["uuid"]) == {}
    assert item["clientMetadata"] == {"$encord": encord}


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"clip": [1, 2, 3]}, 'clientMetadata key "clip": expected embedding of 4 numbers, got [1,2,3] (3 numbers)'),
        ({"clip": [1, "2", 3, 4]}, "item 1 is a string"),
        ({"clip": "1,2,3,4"}, "(a string)"),
        ({"clip": [0, 0, 0, 0]}, "an embedding of zeros has no direction"),
        ({"clip": [1e39, 0, 0, 0]}, "beyond the range of float32"),
        ({"weather": 3}, 'clientMetadata key "weather": expected varchar'),
    ],
)
def test_a_wrong_value_fails_the_unit_and_names_the_item(
    app: Accessio, tmp_path: Path, metadata: dict[str, Any], message: str
) -> None:
    spec = UploadSpec(
        images=[
            Image(object_url=url(tmp_path, "ok.jpg"), image_metadata=META, client_metadata={"clip": vec(1)}),
            Image(object_url=url(tmp_path, "bad.jpg"), title="Bad one", image_metadata=META, client_metadata=metadata),
        ]
    )
    shown = register(app, spec)
    assert (shown["counts"]["created"], shown["counts"]["error"]) == (1, 1)
    (error,) = shown["unitErrors"]
    assert error["error"].startswith('item "Bad one": ')
    assert message in error["error"]
    assert error["actionDescription"].startswith("Fix the value")
    assert list(by_name(app)) == ["ok.jpg"]  # untitled: its path under the root


@pytest.mark.parametrize(
    ("encord", "message"),
    [
        ({"frames": {"10": {"clip": [1, 2]}}}, 'frames["10"]: clientMetadata key "clip": expected embedding of 4'),
        ({"frames": {"ten": {}}}, 'frames["ten"]: the key must be a frame number'),
        ({"frames": {"300": {}}}, "frame 300 is past the video's last frame (250)"),
        ({"frames": {"1": {"$encord": {"keyframe": "no"}}}}, "keyframe: expected true or false"),
        ({"config": {"keyframe_mode": "time"}, "frames": []}, 'keyframe_mode: expected "frame" or "seconds"'),
        ({"config": {"sampling_rate": -1}}, "sampling_rate: expected frames per second"),
        ({"frames": {"1": 5}}, "a frame's entry is an object"),
        ({"frames": [1.5]}, "expected a frame number"),
        ({"frame": []}, 'unknown key "frame"'),
        (
            {"config": {"keyframe_mode": "seconds"}, "frames": {"1": {}, "1.0": {}}},
            'frame 25 is given twice (also as "1")',
        ),
        ([1, 2], 'expected an object with "config" and "frames"'),
    ],
)
def test_a_wrong_encord_block_fails_the_video(app: Accessio, tmp_path: Path, encord: Any, message: str) -> None:
    shown = register(app, UploadSpec(videos=[video(tmp_path, "v", encord)]))
    assert shown["counts"]["error"] == 1
    assert message in shown["unitErrors"][0]["error"]
    assert shown["unitErrors"][0]["error"].startswith('item "v": clientMetadata["$encord"]')


def test_sampled_frames_need_the_fps(app: Accessio, tmp_path: Path) -> None:
    """Frames placed by sampling need the video's fps (registration always has it, supplied
    or probed, so the rule is checked on the extraction itself); keyframes need none."""
    from accessio.jobs.embeddings import EmbeddingProblem, VideoFacts, extract  # noqa: PLC0415

    schema = app.schema()
    frames = {"$encord": {"frames": {"7": {"clip": vec(1), "$encord": {"keyframe": False}}}}}
    with pytest.raises(EmbeddingProblem, match="the video's fps is needed to tell which frames"):
        extract(schema, frames, VideoFacts())
    keyframes = {"$encord": {"frames": {"7": {"clip": vec(1)}}}}  # keyframes need no fps
    assert [v[:2] for v in extract(schema, keyframes, VideoFacts()).vectors] == [("clip", 7)]


def test_an_update_spec_replaces_the_vectors(app: Accessio, tmp_path: Path) -> None:
    first = UploadSpec(
        images=[
            Image(object_url=url(tmp_path, "a.jpg"), title="A", image_metadata=META, client_metadata={"clip": vec(1)})
        ],
        videos=[video(tmp_path, "v", {"frames": {"0": {"clip": vec(0)}, "50": {"clip": vec(50)}}})],
        skip_duplicate_urls=True,
    )
    register(app, first)
    update = UploadSpec(
        images=[Image(object_url=url(tmp_path, "a.jpg"), client_metadata={"clip": vec(2), "weather": "rain"})],
        # a sampled frame (3 s at 25 fps): the fps comes from the catalog, the video is not read again
        videos=[video(tmp_path, "v", {"frames": {"75": {"clip": vec(75), "$encord": {"keyframe": False}}}}, meta=None)],
        skip_duplicate_urls=True,
        upsert_metadata=True,
    )
    shown = register(app, update)
    assert shown["counts"]["upserted"] == 2, shown["unitErrors"]
    found = by_name(app)
    assert stored(app, found["A"]["uuid"]) == {None: vec(2)}
    assert found["A"]["clientMetadata"] == {"weather": "rain"}
    assert stored(app, found["v"]["uuid"]) == {75: vec(75)}  # every frame replaced, not merged
    bad = UploadSpec(
        images=[Image(object_url=url(tmp_path, "a.jpg"), client_metadata={"clip": [1]})],
        skip_duplicate_urls=True,
        upsert_metadata=True,
    )
    failed = register(app, bad)
    assert (failed["counts"]["upserted"], failed["counts"]["error"]) == (0, 1)
    assert stored(app, found["A"]["uuid"]) == {None: vec(2)}  # a failed upsert changes nothing
    cleared = UploadSpec(
        images=[Image(object_url=url(tmp_path, "a.jpg"))], skip_duplicate_urls=True, upsert_metadata=True
    )
    register(app, cleared)
    assert stored(app, found["A"]["uuid"]) == {}


def test_a_writer_process_writes_the_vectors_with_their_items(
    app: Accessio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big SQLite jobs write in a process of their own: vectors travel with the chunk and
    are committed with their items; a search in this process finds them at once."""
    from accessio.jobs import writer  # noqa: PLC0415

    monkeypatch.setattr(writer, "PROCESS_AT_LEAST", 100)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 4)).tolist()
    spec = UploadSpec(
        images=[
            Image(
                object_url=url(tmp_path, f"{n:03d}.jpg"),
                title=f"{n:03d}",
                image_metadata=META,
                client_metadata={"clip": vectors[n]},
            )
            for n in range(300)
        ]
    )
    job = app.start_registration(spec, folder="cars", integration="media")
    from accessio.jobs.runner import run_job  # noqa: PLC0415

    run_job(app.engine, job.id, app.storage("media"), "server", chunk_units=100)
    assert job.counts()["created"] == 300
    with app.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(embeddings)).scalar_one() == 300
    (hit,) = app.similar("clip", vector=vectors[123], k=1)
    assert app.item(hit.item_id)["name"] == "123"
    assert hit.distance == pytest.approx(0.0, abs=1e-6)
