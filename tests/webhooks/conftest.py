"""A catalog with a local integration over real images, and folders ``cars/day`` and ``boats``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from accessio.service import Accessio, Job
from tests.samples import write_sample


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    for n in range(2):
        write_sample(root / f"{n}.jpg", n)
    return root


@pytest.fixture
def app(tmp_path: Path, media: Path) -> Iterator[Accessio]:
    catalog = Accessio(str(tmp_path / "catalog.db"))
    catalog.add_integration("media", "local", root=str(media))
    catalog.create_folder("cars/day")
    catalog.create_folder("boats")
    yield catalog
    catalog.close()


def register(app: Accessio, media: Path, folder: str, names: tuple[str, ...] = ("0.jpg",)) -> Job:
    """A real registration job into ``folder``, run to its end."""
    spec = media / "spec.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": (media / name).as_uri()} for name in names]}))
    return app.register(spec, folder=folder, integration="media")
