"""The catalog's folders and integrations (SQLite here; the conformance suite runs PostgreSQL too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from accessio.catalog import AlreadyExists, InvalidName, NotFound, create_engine
from accessio.catalog import folders as folder_store
from accessio.catalog import integrations as integration_store


@pytest.fixture
def engine(catalog_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(catalog_url)
    yield engine
    engine.dispose()


def test_opening_twice_keeps_the_schema_and_the_data(tmp_path: Path) -> None:
    first = create_engine(str(tmp_path / "c.db"))
    with first.begin() as conn:
        folder_store.create(conn, "a/b")
    again = create_engine(str(tmp_path / "c.db"))
    with again.connect() as conn:
        assert folder_store.get(conn, "a/b").name == "b"
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    first.dispose()
    again.dispose()


def test_folders_nest_and_parents_are_created(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        leaf = folder_store.create(conn, "datasets/cars/front", "front camera")
        parent = folder_store.get(conn, "datasets/cars")
        assert leaf.parent_id == parent.id
        assert leaf.description == "front camera"
        assert parent.description == ""
        assert [f.path for f in folder_store.children(conn)] == ["datasets"]
        assert [f.path for f in folder_store.children(conn, "datasets")] == ["datasets/cars"]
        assert folder_store.get(conn, "/datasets/cars/front/").id == leaf.id


def test_folder_errors(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        folder_store.create(conn, "a")
        with pytest.raises(AlreadyExists):
            folder_store.create(conn, "a")
        assert folder_store.create(conn, "a", exist_ok=True).path == "a"
        with pytest.raises(NotFound):
            folder_store.get(conn, "missing")
        for bad in ("", "a//b", "../x", "a/\x00"):
            with pytest.raises(InvalidName):
                folder_store.create(conn, bad)


def test_integrations_are_named_once(engine: sa.Engine) -> None:
    values = {
        "provider": "local",
        "access_mode": "server",
        "root": "/data",
        "endpoint": None,
        "region": None,
        "credentials_ref": None,
        "allow_private_network": False,
        "sign_ttl_s": 3600,
    }
    with engine.begin() as conn:
        record = integration_store.add(conn, name="media", **values)
        assert integration_store.get(conn, "media") == record
        assert integration_store.get(conn, record.id) == record
        with pytest.raises(AlreadyExists):
            integration_store.add(conn, name="media", **values)
        with pytest.raises(InvalidName):
            integration_store.add(conn, name="bad name", **values)
