"""A 2D map of an embedding key: its vectors projected onto a plane (PCA by default;
UMAP when the ``umap-learn`` package is installed and asked for), each point an item
or a video frame, with the value of a client metadata key to colour it by.

Vectors are scaled to unit length first (searches compare them by cosine, so their
length means nothing). PCA here is a randomized SVD (a few power iterations) of the centred vectors:
exact enough for the two leading components and quick for 4,096 numbers per vector.
Keys with more vectors than ``limit`` are mapped from a seeded random sample of them.

>>> points = pca(np.random.default_rng(0).normal(size=(100, 8)))  # doctest: +SKIP
>>> points.coordinates.shape
(100, 2)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from accessio.catalog.embeddings import live_condition, stored_vector, vector_of_stored
from accessio.catalog.schema import embeddings, items
from accessio.errors import AccessioError

MAP_LIMIT = 50_000  # points: more are not readable on one plot, and PCA of a sample is the same picture
METHODS = ("pca", "umap")


class ProjectionError(AccessioError):
    """A map that cannot be made (unknown method, UMAP not installed, no vectors)."""

    status = 400
    code = "projection"


@dataclass(frozen=True)
class Projected:
    coordinates: npt.NDArray[np.float64]  # (n, 2)
    method: str
    explained: tuple[float, float] | None  # PCA: the share of the variance each axis holds


@dataclass(frozen=True)
class MapPoint:
    item_id: str
    frame: int | None
    name: str
    x: float
    y: float
    color: Any  # the item's value under ``color_by``; None when it has none


@dataclass(frozen=True)
class EmbeddingMap:
    """The points of one key's map and how they were made."""

    key: str
    method: str
    total: int  # vectors under the key
    points: list[MapPoint]
    color_by: str | None
    explained: tuple[float, float] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "method": self.method,
            "total": self.total,
            "colorBy": self.color_by,
            "explainedVariance": list(self.explained) if self.explained is not None else None,
            "points": [
                {"item": p.item_id, "frame": p.frame, "name": p.name, "x": p.x, "y": p.y, "color": p.color}
                for p in self.points
            ],
        }


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def project(vectors: npt.NDArray[Any], method: str = "pca", *, seed: int = 0) -> Projected:
    """Vectors (n x d) onto two dimensions."""
    if method not in METHODS:
        raise ProjectionError(f"unknown projection {method!r}: use {' or '.join(METHODS)}")
    if method == "umap":
        return _umap(vectors, seed)
    return pca(vectors, seed=seed)


def pca(vectors: npt.NDArray[Any], *, seed: int = 0) -> Projected:
    """The two principal components, by randomized SVD (Halko et al., 2 power iterations)."""
    data = np.asarray(vectors, dtype=np.float64)
    n = len(data)
    if n == 0:
        return Projected(np.zeros((0, 2)), "pca", None)
    centred = data - data.mean(axis=0)
    total = float(np.sum(centred**2))
    if n == 1 or total == 0.0:
        return Projected(np.zeros((n, 2)), "pca", (0.0, 0.0))
    rank = min(12, *centred.shape)
    sketch = centred @ np.random.default_rng(seed).standard_normal((centred.shape[1], rank))
    for _ in range(2):
        basis, _ = np.linalg.qr(sketch)
        basis, _ = np.linalg.qr(centred.T @ basis)
        sketch = centred @ basis
    basis, _ = np.linalg.qr(sketch)
    _, singular, components = np.linalg.svd(basis.T @ centred, full_matrices=False)
    axes = components[:2]
    if len(axes) < 2:
        axes = np.vstack([axes, np.zeros((2 - len(axes), centred.shape[1]))])
    for row in range(2):  # a deterministic sign: the largest loading positive
        if axes[row, np.argmax(np.abs(axes[row]))] < 0:
            axes[row] = -axes[row]
    shares = [float(s**2 / total) for s in singular[:2]] + [0.0, 0.0]
    return Projected(centred @ axes.T, "pca", (shares[0], shares[1]))


def _umap(vectors: npt.NDArray[Any], seed: int) -> Projected:
    if not umap_available():
        raise ProjectionError("UMAP is not installed: pip install umap-learn (or use the default, PCA)")
    import umap  # type: ignore[import-not-found]  # noqa: PLC0415  (optional)

    reducer = umap.UMAP(n_components=2, random_state=seed)
    return Projected(np.asarray(reducer.fit_transform(np.asarray(vectors, np.float32)), np.float64), "umap", None)


def embedding_map(
    conn: sa.Connection,
    key: str,
    *,
    color_by: str | None = None,
    method: str = "pca",
    limit: int = MAP_LIMIT,
    seed: int = 0,
    condition: sa.ColumnElement[bool] | None = None,
) -> EmbeddingMap:
    """The map of ``key``'s vectors (of live items meeting ``condition``, an access
    scope; a seeded sample of ``limit`` when more)."""
    query = sa.select(embeddings.c.id).where(embeddings.c.key == key, live_condition())
    if condition is not None:
        query = query.where(embeddings.c.item_id.in_(sa.select(items.c.id).where(condition)))
    ids = np.fromiter(conn.execute(query).scalars(), dtype=np.int64)
    total = len(ids)
    if total == 0:
        raise ProjectionError(f"no vectors are stored under key {key!r}")
    if total > limit:
        ids = np.sort(np.random.default_rng(seed).choice(ids, size=limit, replace=False))
    rows: list[Any] = []
    columns = (embeddings.c.id, embeddings.c.item_id, embeddings.c.frame, stored_vector(conn))
    for start in range(0, len(ids), 900):
        chosen = [int(i) for i in ids[start : start + 900]]
        statement = (
            sa.select(*columns, items.c.name, items.c.client_metadata)
            .join(items, items.c.id == embeddings.c.item_id)
            .where(embeddings.c.id.in_(chosen))
            .order_by(embeddings.c.id)
        )
        rows.extend(conn.execute(statement))
    vectors = np.stack([vector_of_stored(conn, row[3]) for row in rows]).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # the map shows directions, as cosine compares them
    projected = project(vectors, method, seed=seed)
    points = [
        MapPoint(row.item_id, row.frame, row.name, float(x), float(y), _color(row.client_metadata, color_by))
        for row, (x, y) in zip(rows, projected.coordinates, strict=True)
    ]
    return EmbeddingMap(key, projected.method, total, points, color_by, projected.explained)


def _color(metadata: Any, color_by: str | None) -> Any:
    if color_by is None or not isinstance(metadata, Mapping):
        return None
    value = metadata.get(color_by)
    return value if isinstance(value, str | int | float | bool) else None
