"""Catalogs made by an earlier version upgrade in place, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from accessio.catalog import create_engine
from accessio.catalog import jobs as job_store
from accessio.catalog.db import engine_url

MIGRATIONS = Path(__file__).parents[2] / "src" / "accessio" / "catalog" / "migrations"


def upgrade(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_revision_0002_keeps_every_job_state_of_0001(catalog_url: str) -> None:
    """Job progress moved from a row per unit to a high-water mark and counters; the
    failed units keep their error, and a stopped job resumes where it stopped."""
    old = sa.create_engine(engine_url(catalog_url))
    upgrade(old, "0001")
    states = {  # a job of 6 units: 2 created, 1 skipped, 1 failed, 2 never worked on
        0: ("done", "created", None),
        1: ("done", "skipped", None),
        2: ("error", None, "object not found"),
        3: ("done", "created", None),
        4: ("pending", None, None),
        5: ("pending", None, None),
    }
    with old.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO folders (id, path, name, description, created_at, updated_at) "
            "VALUES ('f', 'f', 'f', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO integrations (id, name, provider, access_mode, sign_ttl_s, created_at) "
            "VALUES ('i', 'i', 'local', 'server', 3600, CURRENT_TIMESTAMP)"))  # fmt: skip
        conn.execute(
            sa.text(
                "INSERT INTO jobs (id, folder_id, integration_id, status, ignore_errors, skip_duplicate_urls, "
                "upsert_metadata, units_total, units, created_at) "
                "VALUES ('j', 'f', 'i', 'PENDING', :t, :t, :f, 6, :units, CURRENT_TIMESTAMP)"
            ),
            {"t": True, "f": False, "units": b"x"},
        )
        for index, (status, outcome, error) in states.items():
            conn.execute(
                sa.text(
                    "INSERT INTO job_units (job_id, unit_index, status, outcome, error, action) "
                    "VALUES ('j', :i, :s, :o, :e, :a)"
                ),
                {"i": index, "s": status, "o": outcome, "e": error, "a": "check it" if error else None},
            )
    old.dispose()

    engine = create_engine(catalog_url)  # migrates to the latest revision
    with engine.connect() as conn:
        job = job_store.get(conn, "j")
        failed = job_store.failed_units(conn, "j")
        tables = sa.inspect(conn).get_table_names()
    engine.dispose()
    assert (job.next_unit, job.created, job.skipped, job.upserted, job.failed) == (4, 2, 1, 0, 1)
    assert job_store.counts(job) == {
        "pending": 2, "done": 3, "error": 1, "cancelled": 0, "created": 2, "skipped": 1, "upserted": 0,
    }  # fmt: skip
    assert failed == [job_store.UnitError(2, "object not found", "check it")]
    assert "job_units" not in tables


def downgrade(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_revision_0013_keeps_what_the_syncs_saw(catalog_url: str) -> None:
    """On SQLite synced_objects is rebuilt in its key's order (WITHOUT ROWID); its rows,
    key and cascade stay, both ways."""
    engine = sa.create_engine(engine_url(catalog_url))
    upgrade(engine, "0012")
    rows = [
        ("f", 1, "file:///a.jpg", "10:t1", None, "item-a", "item"),
        ("f", -2, "file:///b.txt", "3:t2", "4:t5", None, "skipped"),
    ]
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO folders (id, path, name, description, created_at, updated_at) "
            "VALUES ('f', 'f', 'f', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))  # fmt: skip
        for row in rows:
            conn.execute(sa.text("INSERT INTO synced_objects VALUES (:f, :k, :u, :v, :s, :i, :t)"),
                         dict(zip("fkuvsit", row, strict=True)))  # fmt: skip

    def table() -> tuple[list[tuple[object, ...]], str]:
        with engine.connect() as conn:
            found = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM synced_objects ORDER BY url"))]
            ddl = ""
            if engine.dialect.name == "sqlite":
                ddl = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'synced_objects'")).scalar_one()
        return found, ddl

    upgrade(engine, "0013")
    found, ddl = table()
    assert found == rows
    if engine.dialect.name == "sqlite":
        assert ddl.rstrip().endswith("WITHOUT ROWID")
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text("INSERT INTO synced_objects VALUES ('f', 1, 'x', 'v', NULL, NULL, 'item')"))
    downgrade(engine, "0012")
    found, ddl = table()
    assert found == rows
    assert "WITHOUT ROWID" not in ddl
    upgrade(engine, "0013")
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("PRAGMA foreign_keys = ON"))
        conn.execute(sa.text("DELETE FROM folders WHERE id = 'f'"))
    assert table()[0] == []
    engine.dispose()
