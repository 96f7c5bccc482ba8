"""An embedding map drawn as a PNG scatter plot (matplotlib, the ``map`` extra).

Categorical colours (strings, booleans) get a legend of the most common values,
the rest grey as "other" and items without the key light grey as "(none)"; numbers
get a colour bar. Points shrink and fade as they grow many, so clusters stay visible.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

from accessio.search.projection import EmbeddingMap, ProjectionError

WIDTH, HEIGHT, DPI = 10.0, 8.0, 100  # inches: a 1000 x 800 pixel image
LEGEND_MAX = 12  # categories with a colour of their own


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_png(embedding_map: EmbeddingMap, path: str | Path) -> Path:
    """Draw the map into a PNG file at ``path``."""
    if not matplotlib_available():
        raise ProjectionError("drawing a map needs matplotlib: pip install 'accessio[map]'")
    import matplotlib  # noqa: PLC0415  (optional, and heavy to import)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    points = embedding_map.points
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    size = max(2.0, min(40.0, 20_000 / max(len(points), 1)))
    alpha = 0.85 if len(points) < 2_000 else 0.5
    figure, axes = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    try:
        colors = [p.color for p in points]
        numeric = [c for c in colors if isinstance(c, int | float) and not isinstance(c, bool)]
        if embedding_map.color_by is None:
            axes.scatter(xs, ys, s=size, alpha=alpha, color="tab:blue", linewidths=0)
        elif numeric and len(numeric) == len([c for c in colors if c is not None]):
            _numeric(axes, figure, xs, ys, colors, size, alpha, embedding_map.color_by)
        else:
            _categorical(axes, xs, ys, colors, size, alpha, embedding_map.color_by)
        axes.set_xlabel(_axis_label(embedding_map, 0))
        axes.set_ylabel(_axis_label(embedding_map, 1))
        axes.set_title(_title(embedding_map))
        axes.grid(True, alpha=0.25)
        figure.tight_layout()
        target = Path(path)
        figure.savefig(target, format="png", dpi=DPI)
        return target
    finally:
        plt.close(figure)


def _title(embedding_map: EmbeddingMap) -> str:
    shown = len(embedding_map.points)
    count = f"{shown:,} vectors" if shown == embedding_map.total else f"{shown:,} of {embedding_map.total:,} vectors"
    colored = f", coloured by {embedding_map.color_by}" if embedding_map.color_by else ""
    return f'Embedding key "{embedding_map.key}": {embedding_map.method.upper()} of {count}{colored}'


def _axis_label(embedding_map: EmbeddingMap, axis: int) -> str:
    if embedding_map.method == "pca":
        share = f" ({embedding_map.explained[axis]:.0%} of variance)" if embedding_map.explained else ""
        return f"principal component {axis + 1}{share}"
    return f"{embedding_map.method.upper()} {axis + 1}"


def _numeric(
    axes: Any, figure: Any, xs: list[float], ys: list[float], colors: list[Any], size: float, alpha: float, name: str
) -> None:
    missing = [i for i, c in enumerate(colors) if c is None]
    if missing:
        axes.scatter([xs[i] for i in missing], [ys[i] for i in missing], s=size, color="lightgrey", linewidths=0,
                     alpha=alpha, label="(none)")  # fmt: skip
        axes.legend(loc="best", markerscale=max(1.0, 6 / size**0.5))
    shown = [i for i, c in enumerate(colors) if c is not None]
    scatter = axes.scatter([xs[i] for i in shown], [ys[i] for i in shown], c=[float(colors[i]) for i in shown],
                           s=size, alpha=alpha, cmap="viridis", linewidths=0)  # fmt: skip
    figure.colorbar(scatter, ax=axes, label=name)


def _categorical(
    axes: Any, xs: list[float], ys: list[float], colors: list[Any], size: float, alpha: float, name: str
) -> None:
    labels = ["(none)" if c is None else str(c).lower() if isinstance(c, bool) else str(c) for c in colors]
    common = [label for label, _ in Counter(label for label in labels if label != "(none)").most_common(LEGEND_MAX)]
    palette = _palette(len(common))
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        group = label if label in common or label == "(none)" else "other"
        groups.setdefault(group, []).append(index)
    order = [*common, "other", "(none)"]
    for group in order:
        members = groups.get(group)
        if not members:
            continue
        color = palette[common.index(group)] if group in common else ("grey" if group == "other" else "lightgrey")
        axes.scatter([xs[i] for i in members], [ys[i] for i in members], s=size, alpha=alpha, color=color,
                     linewidths=0, label=f"{group} ({len(members):,})")  # fmt: skip
    axes.legend(title=name, loc="best", markerscale=max(1.0, 6 / size**0.5), fontsize="small")


def _palette(count: int) -> list[Any]:
    import matplotlib  # noqa: PLC0415

    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i) for i in range(count)]
