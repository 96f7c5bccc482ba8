"""Fixtures of the Celery workers' tests: Redis, a fresh PostgreSQL catalog per test,
moto's S3 behind a 20 ms latency proxy with a bucket of small JPEG files, workers."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accessio.service import Accessio
from tests.cluster_servers import LatencyProxy, RedisServer, Workers
from tests.samples import jpeg_bytes
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, moto_s3  # noqa: F401

OBJECTS = 600  # small JPEG files in the bucket "many"
_databases = itertools.count()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_catalog(postgres: Any) -> str:
    name = f"workers_{os.getpid()}_{next(_databases)}"
    postgres.psql(f"CREATE DATABASE {name};")
    return str(postgres.get_uri(name))


@pytest.fixture(scope="session")
def bucket(moto_s3: MotoS3) -> MotoS3:  # noqa: F811
    for n in range(OBJECTS):
        moto_s3.put("many", f"img/{n:05d}.jpg", jpeg_bytes(8 + n % 50, 6), "image/jpeg")
    return moto_s3


@pytest.fixture(scope="session")
def proxy(bucket: MotoS3) -> Iterator[LatencyProxy]:
    port = int(bucket.endpoint.rsplit(":", 1)[1])
    started = LatencyProxy(port).start()
    yield started
    started.stop()


@pytest.fixture
def app(pg_catalog: str, proxy: LatencyProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[Accessio]:
    monkeypatch.setenv("MOTO_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("MOTO_SECRET_ACCESS_KEY", MOTO_SECRET)
    with Accessio(pg_catalog) as accessio:
        accessio.add_integration(
            "s3", "s3Compatible", endpoint=proxy.endpoint, credentials="env:MOTO", allow_private_network=True
        )
        accessio.create_folder("f")
        yield accessio


@pytest.fixture
def workers(pg_catalog: str, redis: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(pg_catalog, redis.url, tmp_path, env={"MOTO_ACCESS_KEY_ID": MOTO_KEY_ID,
                                                          "MOTO_SECRET_ACCESS_KEY": MOTO_SECRET})  # fmt: skip
    yield group
    group.stop_all()
