"""The 2D map of an embedding key: the projection and the PNG drawn from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PillowImage

from accessio.search.map_image import write_png
from accessio.search.projection import ProjectionError, pca, project, umap_available
from accessio.service import Accessio
from accessio.spec import Image, ImageMetadata, UploadSpec

META = ImageMetadata("image/jpeg", 100, 8, 8)


def three_clusters(per: int = 60, dim: int = 64, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 4
    labels = np.repeat(np.arange(3), per)
    return centres[labels] + rng.normal(size=(3 * per, dim)), labels


def test_pca_separates_clusters() -> None:
    data, labels = three_clusters()
    points = pca(data).coordinates
    centres = np.array([points[labels == c].mean(axis=0) for c in range(3)])
    spread = max(float(np.linalg.norm(points[labels == c] - centres[c], axis=1).mean()) for c in range(3))
    gaps = [float(np.linalg.norm(centres[a] - centres[b])) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 3 * spread
    # every point is nearer its own cluster's centre than any other
    nearest = np.argmin(np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2), axis=1)
    assert (nearest == labels).all()


def test_pca_finds_the_direction_of_most_variance() -> None:
    rng = np.random.default_rng(1)
    direction = rng.normal(size=32)
    direction /= np.linalg.norm(direction)
    data = np.outer(rng.normal(size=500) * 10, direction) + rng.normal(size=(500, 32)) * 0.1
    projected = pca(data)
    assert projected.explained is not None
    assert projected.explained[0] > 0.95
    along = projected.coordinates[:, 0]
    assert abs(np.corrcoef(along, data @ direction)[0, 1]) > 0.999
    # the first axis is well defined (the second is not: the noise is the same in every other direction)
    assert pca(data, seed=9).coordinates[:, 0] == pytest.approx(along, abs=1e-6)


def test_umap_only_when_installed() -> None:
    if umap_available():
        pytest.skip("umap-learn is installed here")
    with pytest.raises(ProjectionError, match="pip install umap-learn"):
        project(np.ones((5, 3)), "umap")
    with pytest.raises(ProjectionError, match="unknown projection"):
        project(np.ones((5, 3)), "tsne")


@pytest.fixture
def app(catalog_url: str, tmp_path: Path) -> Iterator[Accessio]:
    (tmp_path / "media").mkdir()
    data, labels = three_clusters(per=40, dim=16)
    names = ("red car", "blue boat", "green bike")
    with Accessio(catalog_url) as accessio:
        accessio.add_integration("media", "local", root=str(tmp_path / "media"))
        accessio.create_folder("f")
        accessio.schema_add_embedding("clip", 16)
        images = [
            Image(
                object_url=(tmp_path / "media" / f"{n}.jpg").as_uri(),
                title=f"{n}",
                image_metadata=META,
                client_metadata={"clip": data[n].tolist(), "kind": names[labels[n]], "score": float(n)}
                if n % 10
                else {"clip": data[n].tolist()},  # every tenth without a colour
            )
            for n in range(len(data))
        ]
        assert accessio.register(UploadSpec(images=images), folder="f", integration="media").status == "DONE"
        yield accessio


def colours(path: Path) -> set[tuple[int, int, int]]:
    with PillowImage.open(path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == (1000, 800)
        return {rgb[:3] for _, rgb in image.convert("RGB").getcolors(maxcolors=1_000_000) or []}


def saturated(found: set[tuple[int, int, int]]) -> set[tuple[int, int, int]]:
    """Colours well away from grey: the points', not the axes' or the text's."""
    return {c for c in found if max(c) - min(c) > 60}


def test_the_map_as_data_and_as_a_png(app: Accessio, tmp_path: Path) -> None:
    drawn = app.embedding_map("clip", color_by="kind")
    assert (drawn.total, len(drawn.points), drawn.method) == (120, 120, "pca")
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for point in drawn.points:
        if point.color is not None:
            by_kind.setdefault(point.color, []).append((point.x, point.y))
    assert sorted(by_kind) == ["blue boat", "green bike", "red car"]
    assert sum(p.color is None for p in drawn.points) == 12
    centres = {kind: np.mean(xy, axis=0) for kind, xy in by_kind.items()}
    assert min(np.linalg.norm(centres[a] - centres[b]) for a in centres for b in centres if a < b) > 0.5

    path = write_png(drawn, tmp_path / "map.png")
    found = colours(path)
    assert len(saturated(found)) >= 3  # a colour per kind (and their blends where points overlap)
    assert len(found) > 20  # anti-aliased text, points, legend: not a blank canvas

    numeric = write_png(app.embedding_map("clip", color_by="score"), tmp_path / "score.png")
    assert len(saturated(colours(numeric))) > 20  # a colour scale, with its bar

    sampled = app.embedding_map("clip", limit=50)
    assert (sampled.total, len(sampled.points)) == (120, 50)
    plain = write_png(sampled, tmp_path / "plain.png")
    assert saturated(colours(plain))


def test_a_map_of_what_is_not_there(app: Accessio) -> None:
    with pytest.raises(ProjectionError, match="not an embedding key"):
        app.embedding_map("kind")
    app.schema_add_embedding("empty", 8)
    with pytest.raises(ProjectionError, match="no vectors"):
        app.embedding_map("empty")
