"""Similarity search on both backends: by item and by vector, with filters, exact and
approximate agreeing, and the index in step with registrations and deletions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from accessio.catalog.schema import embedding_deletions, embeddings, items, vector_indexes
from accessio.search import ann
from accessio.search.vectors import IndexSync, SimilarityError, VectorSearch
from accessio.service import Accessio
from accessio.spec import Image, ImageMetadata, UploadSpec, Video, VideoMetadata

META = ImageMetadata("image/jpeg", 100, 8, 8)


@pytest.fixture
def app(catalog_url: str, tmp_path: Path) -> Iterator[Accessio]:
    (tmp_path / "media").mkdir()
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(tmp_path / "media"))
        accessio.create_folder("cars")
        accessio.create_folder("boats")
        accessio.schema_add_embedding("clip", 4)
        accessio.schema_add_scalar("weather", "varchar")
        accessio.sync_vector_indexes()
        yield accessio


def register(app: Accessio, tmp_path: Path, vectors: dict[str, Any], folder: str = "cars", **extra: Any) -> None:
    """Images named as the keys, each with its vector (and ``weather`` when the value is a pair)."""
    images = []
    for name, value in vectors.items():
        vector, weather = value if isinstance(value, tuple) else (value, None)
        metadata: dict[str, Any] = {"clip": list(vector)}
        if weather is not None:
            metadata["weather"] = weather
        uri = (tmp_path / "media" / folder / f"{name}.jpg").as_uri()
        images.append(Image(object_url=uri, title=name, image_metadata=META, client_metadata=metadata))
    job = app.register(UploadSpec(images=images, **extra), folder=folder, integration="media")
    assert job.status == "DONE", job.to_json()["unitErrors"]


def names(app: Accessio, hits: list[Any]) -> list[str]:
    return [app.item(hit.item_id)["name"] for hit in hits]


def cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


SMALL = {
    "east": ([1, 0, 0, 0], "sunny"),
    "east-ish": ([0.9, 0.1, 0, 0], "rain"),
    "north-east": ([1, 1, 0, 0], "sunny"),
    "north": ([0, 1, 0, 0], "rain"),
    "west": ([-1, 0, 0, 0], "sunny"),
}


def test_by_vector_nearest_first_with_cosine_distances(app: Accessio, tmp_path: Path) -> None:
    register(app, tmp_path, SMALL)
    hits = app.similar("clip", vector=[2, 0.1, 0, 0], k=3)
    assert names(app, hits) == ["east", "east-ish", "north-east"]
    for hit, name in zip(hits, ["east", "east-ish", "north-east"], strict=True):
        assert hit.distance == pytest.approx(cosine([2, 0.1, 0, 0], SMALL[name][0]), abs=1e-6)
        assert hit.frame is None
    everything = app.similar("clip", vector=[2, 0.1, 0, 0], k=100)
    assert names(app, everything)[-1] == "west"
    assert everything[-1].distance == pytest.approx(2 - cosine([2, 0.1, 0, 0], [1, 0, 0, 0]), abs=1e-6)


def test_by_item_leaves_the_item_out(app: Accessio, tmp_path: Path) -> None:
    register(app, tmp_path, SMALL)
    east = next(item for item in app.items("cars") if item["name"] == "east")
    hits = app.similar("clip", item=east["uuid"], k=2)
    assert names(app, hits) == ["east-ish", "north-east"]


def test_video_frames_are_results_of_their_own(app: Accessio, tmp_path: Path) -> None:
    register(app, tmp_path, SMALL)
    frames = {"0": {"clip": [0, 0, 1, 0]}, "50": {"clip": [0, 0.1, 1, 0]}, "75": {"clip": [1, 0, 0.1, 0]}}
    spec = UploadSpec(
        videos=[
            Video(
                object_url=(tmp_path / "media" / "v.mp4").as_uri(),
                title="v",
                video_metadata=VideoMetadata(25.0, 4.0, 64, 48, 100, "video/mp4"),
                client_metadata={"$encord": {"frames": frames}},
            )
        ]
    )
    app.register(spec, folder="cars", integration="media")
    hits = app.similar("clip", vector=[0, 0, 1, 0], k=2)
    assert [(app.item(h.item_id)["name"], h.frame) for h in hits] == [("v", 0), ("v", 50)]
    video = next(item for item in app.items("cars") if item["name"] == "v")
    near_frame = app.similar("clip", item=video["uuid"], frame=75, k=1)  # the video's own frames are left out
    assert names(app, near_frame) == ["east"]
    with pytest.raises(SimilarityError, match=r"no embedding of its own under key 'clip'; it has: 0, 50, 75"):
        app.similar("clip", item=video["uuid"])


def test_a_filter_and_a_folder_narrow_the_candidates(app: Accessio, tmp_path: Path) -> None:
    register(app, tmp_path, SMALL)
    register(app, tmp_path, {"boat-east": ([1, 0.01, 0, 0], "sunny")}, folder="boats")
    assert names(app, app.similar("clip", vector=[1, 0, 0, 0], k=3, where='weather = "rain"')) == [
        "east-ish",
        "north",
    ]
    assert names(app, app.similar("clip", vector=[1, 0, 0, 0], k=2)) == ["east", "boat-east"]
    assert names(app, app.similar("clip", vector=[1, 0, 0, 0], k=2, folder="boats")) == ["boat-east"]
    sunny_cars = app.similar("clip", vector=[1, 0, 0, 0], k=5, where='weather = "sunny"', folder="cars")
    assert names(app, sunny_cars) == ["east", "north-east", "west"]


def test_what_cannot_be_searched(app: Accessio, tmp_path: Path) -> None:
    register(app, tmp_path, SMALL)
    with pytest.raises(SimilarityError, match="not a key of the metadata schema"):
        app.similar("nope", vector=[1, 0, 0, 0])
    with pytest.raises(SimilarityError, match="not an embedding key"):
        app.similar("weather", vector=[1, 0, 0, 0])
    with pytest.raises(SimilarityError, match="has 3 numbers; the key's embeddings have 4"):
        app.similar("clip", vector=[1, 0, 0])
    with pytest.raises(SimilarityError, match="all zeros"):
        app.similar("clip", vector=[0, 0, 0, 0])
    with pytest.raises(SimilarityError, match="either an item or a vector"):
        app.similar("clip")
    with pytest.raises(SimilarityError, match="k must be from 1 to 1000"):
        app.similar("clip", vector=[1, 0, 0, 0], k=0)
    app.schema_delete("clip")
    with pytest.raises(SimilarityError, match="deleted"):
        app.similar("clip", vector=[1, 0, 0, 0])


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 100, 2), dim))
    return (centres[rng.integers(0, len(centres), n)] + 0.4 * rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture
def big(app: Accessio, tmp_path: Path) -> tuple[Accessio, np.ndarray]:
    """3,000 clustered vectors of 16 numbers, every third item "sunny"."""
    app.schema_add_embedding("wide", 16)
    app.sync_vector_indexes()
    data = clustered(3000, 16, seed=3)
    images = [
        Image(
            object_url=(tmp_path / "media" / f"{n:04d}.jpg").as_uri(),
            title=f"{n:04d}",
            image_metadata=META,
            client_metadata={"wide": data[n].tolist(), "weather": "sunny" if n % 3 == 0 else "rain"},
        )
        for n in range(3000)
    ]
    assert app.register(UploadSpec(images=images), folder="cars", integration="media").status == "DONE"
    return app, data


def exact_top(data: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    distances = 1 - unit @ (query / np.linalg.norm(query))
    order = [int(i) for i in np.argsort(distances, kind="stable")]
    if allowed is not None:
        order = [i for i in order if allowed[i]]
    return order[:k]


def test_approximate_and_exact_searches_agree(big: tuple[Accessio, np.ndarray]) -> None:
    """HNSW (usearch in SQLite, from 500 vectors here; pgvector in PostgreSQL) finds
    what an exact search finds, with the same distances; with a filter too."""
    app, data = big
    search = VectorSearch(app.engine, ann_at=500)
    queries = clustered(40, 16, seed=11)
    sunny = np.arange(3000) % 3 == 0
    recalls: list[float] = []
    for query in queries:
        approximate = search.similar("wide", vector=query, k=10)
        exact = search.similar("wide", vector=query, k=10, exact=True)
        truth = exact_top(data, query, 10)
        assert [int(app.item(h.item_id)["name"]) for h in exact] == truth
        for hit in approximate:
            row = int(app.item(hit.item_id)["name"])
            assert hit.distance == pytest.approx(cosine(query, data[row]), abs=1e-6)
        recalls.append(len({int(app.item(h.item_id)["name"]) for h in approximate} & set(truth)) / 10)
        filtered = search.similar("wide", vector=query, k=10, where='weather = "sunny"')
        assert {int(app.item(h.item_id)["name"]) % 3 for h in filtered} == {0}
        recalls.append(
            len({int(app.item(h.item_id)["name"]) for h in filtered} & set(exact_top(data, query, 10, sunny))) / 10
        )
    assert np.mean(recalls) >= 0.95
    if app.engine.dialect.name == "sqlite":
        held = search._indexes._held["wide"]  # type: ignore[union-attr]
        assert held.graph is not None  # the approximate path was the one tested


def test_a_selective_filter_falls_back_to_an_exact_search(big: tuple[Accessio, np.ndarray]) -> None:
    app, data = big
    search = VectorSearch(app.engine, ann_at=500)
    query = data[42] + 0.01
    chosen = {"0007", "1234", "2999"}
    where = "name in (" + ", ".join(f'"{n}"' for n in sorted(chosen)) + ")"
    hits = search.similar("wide", vector=query, k=10, where=where)
    assert sorted(app.item(h.item_id)["name"] for h in hits) == sorted(chosen)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)


def test_new_and_deleted_items_show_without_a_rebuild(
    big: tuple[Accessio, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _data = big
    monkeypatch.setattr(ann, "SAVE_AFTER", 5)  # saved again after 5 changes, to see the log pruned
    monkeypatch.setattr(ann, "SAVE_SHARE", 0.0)
    search = VectorSearch(app.engine, ann_at=500)
    probe = np.zeros(16, np.float32)
    probe[0] = 1.0
    search.similar("wide", vector=probe, k=5)  # builds (SQLite: and saves) the index
    sqlite = app.engine.dialect.name == "sqlite"
    if sqlite:
        saved = list(Path(f"{app.engine.url.database}.vectors").glob("*.usearch"))
        assert len(saved) == 1
        graph = search._indexes._held["wide"].graph  # type: ignore[union-attr]
    # registered by another handle on the catalog (another process, for all the index knows)
    with Accessio(app.catalog) as other:
        new = {"new-one": probe.tolist()}
        images = [Image(object_url=(tmp_path / "media" / "new.jpg").as_uri(), title="new-one",
                        image_metadata=META, client_metadata={"wide": new["new-one"]})]  # fmt: skip
        assert other.register(UploadSpec(images=images), folder="cars", integration="media").status == "DONE"
    (first,) = search.similar("wide", vector=probe, k=1)
    assert app.item(first.item_id)["name"] == "new-one"
    assert first.distance == pytest.approx(0.0, abs=1e-6)
    if sqlite:
        assert search._indexes._held["wide"].graph is graph  # type: ignore[union-attr]  # caught up, not rebuilt

    stale = VectorSearch(app.engine, ann_at=500)  # a process that read the index before the deletions
    assert stale.similar("wide", vector=probe, k=1)[0].item_id == first.item_id
    top = [h.item_id for h in search.similar("wide", vector=probe, k=20)]
    with app.engine.begin() as conn:
        gone = list(conn.execute(sa.select(embeddings.c.id).where(embeddings.c.item_id.in_(top[:10]))).scalars())
        conn.execute(items.delete().where(items.c.id.in_(top[:10])))  # their vectors go with them
    after = search.similar("wide", vector=probe, k=20)
    assert not {h.item_id for h in after} & set(top[:10])
    assert [h.item_id for h in after][:10] == top[10:]
    if app.engine.dialect.name == "sqlite":
        with app.engine.connect() as conn:
            state = conn.execute(sa.select(vector_indexes).where(vector_indexes.c.key == "wide")).one()
            left = conn.execute(sa.select(sa.func.count()).select_from(embedding_deletions)).scalar_one()
        assert state.pruned_upto > 0
        assert left == 0
    # the stale process is behind the pruning: it reloads, and the deleted items stay gone
    assert [h.item_id for h in stale.similar("wide", vector=probe, k=20)][:10] == top[10:]
    if sqlite:
        for handle in (search, stale):
            held = handle._indexes._held["wide"]  # type: ignore[union-attr]
            assert held.graph is not None
            assert not any(label in held.graph for label in gone)
    fresh = VectorSearch(app.engine, ann_at=500)  # a new process: loads the saved file
    assert [h.item_id for h in fresh.similar("wide", vector=probe, k=20)][:10] == top[10:]


def test_tombstoned_items_are_not_results(app: Accessio, tmp_path: Path) -> None:
    register(app, tmp_path, SMALL)
    east = next(item for item in app.items("cars") if item["name"] == "east")
    with app.engine.begin() as conn:
        conn.execute(items.update().where(items.c.id == east["uuid"]).values(is_tombstone=True))
    assert names(app, app.similar("clip", vector=[1, 0, 0, 0], k=1)) == ["east-ish"]


def hnsw_indexes(app: Accessio) -> list[str]:
    with app.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE tablename = 'embeddings' AND indexname LIKE '%hnsw%'")
            ).scalars()
        )


def test_sync_vector_indexes_follows_the_schema(app: Accessio, tmp_path: Path) -> None:
    register(app, tmp_path, SMALL)
    app.schema_add_embedding("huge", 2001)
    register(app, tmp_path, {"h": [0, 0, 0, 1]}, folder="boats")
    postgresql = app.engine.dialect.name == "postgresql"
    synced = app.sync_vector_indexes()
    assert synced.created == ()
    assert synced.vectors_removed == 0
    if postgresql:
        (definition,) = hnsw_indexes(app)
        assert "hnsw" in definition
        assert "vector(4)" in definition
        assert "'clip'" in definition
        with app.engine.connect() as conn:
            plan = "\n".join(
                conn.execute(
                    sa.text(
                        "EXPLAIN SELECT id FROM embeddings WHERE key = 'clip' "
                        "ORDER BY vector::vector(4) <=> '[1,0,0,0]'::vector(4) LIMIT 5"
                    )
                ).scalars()
            )
        assert "ix_embeddings_hnsw_" in plan
    # a key over 2,000 numbers has no index in PostgreSQL and is still searched (exactly)
    with app.engine.begin() as conn:
        from accessio.catalog.embeddings import insert, to_blob  # noqa: PLC0415

        item_id = next(item for item in app.items("boats") if item["name"] == "h")["uuid"]
        insert(conn, [(item_id, "huge", None, to_blob([1.0] * 2001))])
    (hit,) = app.similar("huge", vector=[1.0] * 2001, k=1)
    assert hit.item_id == item_id
    assert hit.distance == pytest.approx(0.0, abs=1e-6)

    # schema changes through the API sync the indexes themselves, in their transaction
    app.schema_delete("clip")  # soft: the vectors stay (restorable), the index goes
    if postgresql:
        assert hnsw_indexes(app) == []
    assert app.sync_vector_indexes() == IndexSync(created=(), dropped=(), vectors_removed=0)
    app.schema_restore("clip")
    if postgresql:
        assert len(hnsw_indexes(app)) == 1
    assert names(app, app.similar("clip", vector=[1, 0, 0, 0], k=1)) == ["east"]
    with app.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM embeddings WHERE key = 'clip'")).scalar_one()
    assert stored == len(SMALL) + 1
    app.schema_delete("clip", hard=True)  # hard: the vectors go with the key
    with app.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM embeddings WHERE key = 'clip'")).scalar_one() == 0
    app.schema_add_embedding("clip", 3)  # the key anew, another size
    assert app.similar("clip", vector=[1, 0, 0], k=5) == []
    if postgresql:
        (definition,) = hnsw_indexes(app)
        assert "vector(3)" in definition


def test_a_key_deleted_and_defined_again_starts_empty(app: Accessio, tmp_path: Path) -> None:
    """A process that held the key's vectors does not keep them once the key is gone."""
    register(app, tmp_path, SMALL)
    search = VectorSearch(app.engine)
    assert len(search.similar("clip", vector=[1, 0, 0, 0], k=10)) == len(SMALL)
    app.schema_delete("clip", hard=True)
    app.sync_vector_indexes()
    app.schema_add_embedding("clip", 4)  # the same size again
    app.sync_vector_indexes()
    register(app, tmp_path, {"fresh": [0, 0, 0, 1]}, folder="boats")
    hits = search.similar("clip", vector=[1, 0, 0, 0], k=10)
    assert names(app, hits) == ["fresh"]
    if app.engine.dialect.name == "sqlite":
        held = search._indexes._held["clip"]  # type: ignore[union-attr]
        assert held.size == 1  # reloaded, not the old vectors plus the new one
