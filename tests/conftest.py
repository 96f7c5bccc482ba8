"""Shared test configuration.

Under CI (``CI`` set) Hypothesis runs derandomized, so a run is repeatable; local runs
stay random and keep their example database, which is how new failures get found.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# pgserver asks for a runtime directory when imported; CI machines may not set one.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="accessio-run-"))
import pgserver

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A PostgreSQL server (with pgvector) from the pgserver package, on a local socket."""
    directory = tempfile.mkdtemp(prefix="accessio-pg-")
    server = pgserver.get_server(directory, cleanup_mode="delete")  # the data directory goes too
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog on each backend: the conformance suites run on both."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.db")
    server = request.getfixturevalue("postgres")
    name = f"test_{os.getpid()}_{next(_databases)}"
    server.psql(f"CREATE DATABASE {name};")
    return str(server.get_uri(name))
