"""Jobs with ``skip_duplicate_urls`` racing into one folder never register an object twice.

Each job looks duplicates up when it prepares a chunk and writes the chunk later, in
another transaction (and in a writer process for a SQLite file of 20,000 units or
more): without the write's own check under the folder's lock, jobs started together
all find an object missing and all insert it. These tests start real ``accessio
register`` processes at the same time on one catalog (SQLite file, PostgreSQL server).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from tests.samples import jpeg_bytes

from accessio.catalog import create_engine
from accessio.catalog import embeddings as embedding_store
from accessio.catalog import items as item_store
from accessio.catalog import jobs as job_store
from accessio.catalog.db import engine_url
from accessio.catalog.schema import embeddings, items
from accessio.jobs.units import UnitContext, item_id, item_rows
from accessio.jobs.writer import ChunkWrite, Upsert, write_chunk
from accessio.service import Accessio
from accessio.spec import Image, ImageGroup, ImageMetadata, UploadSpec, write_json

FOLDER = "race"


def _image(url: str, n: int, client_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "objectUrl": url,
        "imageMetadata": {"mimeType": "image/jpeg", "fileSize": 1000 + n, "width": 64, "height": 48},
        **({"clientMetadata": client_metadata} if client_metadata is not None else {}),
    }


def _spec(path: Path, units: list[dict[str, Any]], *, skip: bool = True, upsert: bool = False) -> Path:
    body: dict[str, Any] = {"images": units}
    if skip:
        body["skip_duplicate_urls"] = True
    if upsert:
        body["upsert_metadata"] = True
    path.write_bytes(msgspec.json.encode(body))
    return path


def _catalog(catalog: str, root: Path) -> str:
    """The integration (its root: ``root``) and the folder, made once before the race."""
    root.mkdir(exist_ok=True)
    with Accessio(catalog) as app:
        app.add_integration("media", "local", root=str(root))
        app.create_folder(FOLDER)
    return str(root)


def _race(catalog: str, specs: list[Path]) -> list[dict[str, Any]]:
    """``accessio register`` of each spec into the folder, all started at once; their job JSON.

    In PostgreSQL the race is made sure of: the items table is locked against writes
    (reads go on) until every job waits for a lock, so all of them prepared their chunk
    (looked duplicates up) before any could write one.
    """
    gate = _gate(catalog, len(specs)) if catalog.startswith("postgresql") else None
    if gate is not None:
        next(gate)  # the items table is locked
    options = ["--folder", FOLDER, "--integration", "media", "--catalog", catalog, "--json"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "accessio", "register", str(spec), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for spec in specs
    ]
    if gate is not None:
        next(gate)  # every job waits to write: the lock goes
    jobs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode(errors="replace")[-3000:]
        jobs.append(json.loads(stdout))
    for job in jobs:
        assert job["status"] == "DONE", job
    return jobs


def _gate(catalog: str, waiters: int) -> Iterator[None]:
    """Holds ``LOCK TABLE items IN EXCLUSIVE MODE`` from its first step until ``waiters``
    other sessions of the database wait for a lock (then releases it) at its second."""
    engine = sa.create_engine(engine_url(catalog))
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(sa.text("LOCK TABLE items IN EXCLUSIVE MODE"))
        yield
        deadline = time.monotonic() + 120
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        with engine.connect() as watch:
            while watch.execute(waiting).scalar_one() < waiters:
                assert time.monotonic() < deadline, "the jobs did not all come to write in 120 s"
                time.sleep(0.05)
                watch.rollback()  # each count on a fresh snapshot of the statistics
        transaction.commit()
    engine.dispose()
    yield


def _top_level(catalog: str) -> list[Any]:
    """The folder's top-level items (the only folder of the catalog)."""
    engine = create_engine(catalog)
    query = sa.select(items.c.id, items.c.url, items.c.url_key, items.c.client_metadata)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query.where(items.c.parent_item_id.is_(None))))
    finally:
        engine.dispose()


def _check_counts(jobs: list[dict[str, Any]], objects: int) -> None:
    """Each object created by one job, skipped by the others."""
    created = sum(job["counts"]["created"] for job in jobs)
    skipped = sum(job["counts"]["skipped"] for job in jobs)
    assert created == objects, [job["counts"] for job in jobs]
    assert created + skipped == objects * len(jobs), [job["counts"] for job in jobs]
    assert all(job["counts"]["error"] == 0 for job in jobs)


def _urls(n: int, root: str) -> list[str]:
    """URLs under ``root`` (with supplied metadata nothing is read: the files need not exist)."""
    return [f"file://{root}/batch-{i // 1000:03d}/image-{i:06d}.jpg" for i in range(n)]


def test_three_jobs_of_one_spec_register_each_url_once_sqlite(tmp_path: Path) -> None:
    """The report: three registers of the same 20,000-URL spec (supplied metadata, so
    nothing is read; each job big enough for a writer process) into one folder."""
    catalog = str(tmp_path / "catalog.db")
    root = _catalog(catalog, tmp_path / "media")
    urls = _urls(20_000, root)
    spec = _spec(tmp_path / "spec.json", [_image(url, n) for n, url in enumerate(urls)])

    jobs = _race(catalog, [spec, spec, spec])

    rows = _top_level(catalog)
    assert len(rows) == 20_000
    assert sorted(row.url for row in rows) == sorted(urls)
    _check_counts(jobs, 20_000)


def test_three_jobs_reading_real_files_register_each_file_once_sqlite(tmp_path: Path) -> None:
    """Files read (probed) by each job: chunks of 2,000 reads, so the jobs race over two
    chunks each, and the reads widen the gap between lookup and write."""
    media = tmp_path / "media"
    urls = []
    for n in range(2_500):
        path = media / f"d{n // 500}" / f"{n:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(8 + n % 5, 8))
        urls.append(path.as_uri())
    catalog = str(tmp_path / "catalog.db")
    _catalog(catalog, media)
    spec = _spec(tmp_path / "spec.json", [{"objectUrl": url} for url in urls])

    jobs = _race(catalog, [spec, spec, spec])

    rows = _top_level(catalog)
    assert sorted(row.url for row in rows) == sorted(urls)
    _check_counts(jobs, len(urls))


def test_three_jobs_of_image_groups_register_each_group_once_sqlite(tmp_path: Path) -> None:
    """Groups are duplicates by their URL list (a key over all of it): one group item per
    list, its three children only once."""
    catalog = str(tmp_path / "catalog.db")
    root = _catalog(catalog, tmp_path / "media")
    urls = _urls(18_000, root)
    meta = ImageMetadata(mime_type="image/jpeg", file_size=1000, width=64, height=48)
    groups = [
        ImageGroup(urls=tuple(urls[i : i + 3]), title=f"group {i // 3}", member_metadata=(meta, meta, meta))
        for i in range(0, len(urls), 3)
    ]
    spec = tmp_path / "groups.json"
    spec.write_bytes(write_json(UploadSpec(image_groups=groups, skip_duplicate_urls=True)))

    jobs = _race(catalog, [spec, spec, spec])

    rows = _top_level(catalog)
    assert len(rows) == 6_000
    assert len({row.url_key for row in rows}) == 6_000
    engine = create_engine(catalog)
    with engine.connect() as conn:
        query = sa.select(items.c.url, items.c.parent_item_id).where(items.c.parent_item_id.is_not(None))
        children = list(conn.execute(query))
    engine.dispose()
    assert sorted(child.url for child in children) == sorted(urls)
    assert {child.parent_item_id for child in children} == {row.id for row in rows}
    _check_counts(jobs, 6_000)


@pytest.fixture
def postgres_catalog(postgres: Any, request: pytest.FixtureRequest) -> str:
    name = f"race_{os.getpid()}_{request.node.name.lower()[:30]}"
    postgres.psql(f"CREATE DATABASE {name};")
    return str(postgres.get_uri(name))


def test_three_jobs_of_one_spec_register_each_url_once_postgres(tmp_path: Path, postgres_catalog: str) -> None:
    root = _catalog(postgres_catalog, tmp_path / "media")
    urls = _urls(5_000, root)
    spec = _spec(tmp_path / "spec.json", [_image(url, n) for n, url in enumerate(urls)])

    jobs = _race(postgres_catalog, [spec, spec, spec])

    rows = _top_level(postgres_catalog)
    assert len(rows) == 5_000
    assert sorted(row.url for row in rows) == sorted(urls)
    _check_counts(jobs, 5_000)


def _upsert_race(tmp_path: Path, catalog: str, objects: int) -> None:
    """Two jobs upserting different metadata for the same URLs (each spec names a tenth of
    its URLs twice, the second time with other values): one item per URL, holding the
    last metadata one of the specs gives it, whole."""
    root = _catalog(catalog, tmp_path / "media")
    urls = _urls(objects, root)
    again = range(0, objects, 10)

    def units(side: str) -> list[dict[str, Any]]:
        first = [_image(url, n, {"side": side, "n": n, side: True}) for n, url in enumerate(urls)]
        return first + [_image(urls[n], n, {"side": side, "n": n, "again": [side, n]}) for n in again]

    repeated = set(again)

    def last(side: str, n: int) -> dict[str, Any]:
        return {"side": side, "n": n, "again": [side, n]} if n in repeated else {"side": side, "n": n, side: True}

    spec_a = _spec(tmp_path / "a.json", units("a"), upsert=True)
    spec_b = _spec(tmp_path / "b.json", units("b"), upsert=True)

    jobs = _race(catalog, [spec_a, spec_b])

    rows = _top_level(catalog)
    assert len(rows) == objects
    number = {url: n for n, url in enumerate(urls)}
    for row in rows:
        n = number[row.url]
        assert row.client_metadata in (last("a", n), last("b", n)), row
    created = sum(job["counts"]["created"] for job in jobs)
    upserted = sum(job["counts"]["upserted"] for job in jobs)
    assert created == objects, [job["counts"] for job in jobs]
    assert created + upserted == 2 * (objects + len(again)), [job["counts"] for job in jobs]
    assert sum(job["counts"]["skipped"] for job in jobs) == 0


def test_upserting_jobs_race_one_item_per_url_with_whole_metadata_sqlite(tmp_path: Path) -> None:
    _upsert_race(tmp_path, str(tmp_path / "catalog.db"), 20_000)


def test_upserting_jobs_race_one_item_per_url_with_whole_metadata_postgres(
    tmp_path: Path, postgres_catalog: str
) -> None:
    _upsert_race(tmp_path, postgres_catalog, 3_000)


def test_jobs_without_skip_duplicate_urls_still_register_duplicates(tmp_path: Path) -> None:
    """SPEC: without the flag, duplicates are registered again (also when racing)."""
    catalog = str(tmp_path / "catalog.db")
    root = _catalog(catalog, tmp_path / "media")
    urls = _urls(2_000, root)
    spec = _spec(tmp_path / "spec.json", [_image(url, n) for n, url in enumerate(urls)], skip=False)

    jobs = _race(catalog, [spec, spec])

    rows = _top_level(catalog)
    assert len(rows) == 4_000
    assert Counter(row.url for row in rows) == Counter(urls * 2)
    assert [job["counts"]["created"] for job in jobs] == [2_000, 2_000]


def test_the_duplicate_lookup_searches_the_key_index_sqlite(tmp_path: Path) -> None:
    """The lookup (at preparation and again at the write) probes the key index per key;
    left to itself SQLite walks the whole folder on the search index (folder, name)."""
    catalog = str(tmp_path / "catalog.db")
    _catalog(catalog, tmp_path / "media")
    engine = create_engine(catalog)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + item_store._SQLITE_EXISTING, ("[1, 2]", "f")).all()
    engine.dispose()
    assert "SEARCH items USING INDEX ix_items_url_key (url_key=?)" in [row[-1] for row in plan], plan


# The write's own check, step by step: another job's items arrive between a chunk's
# preparation and its write (what the races above hit at random).


def _group(urls: list[str]) -> ImageGroup:
    meta = ImageMetadata(mime_type="image/jpeg", file_size=1000, width=64, height=48)
    return ImageGroup(urls=tuple(urls), title="g", member_metadata=(meta,) * len(urls))


def _image_unit(url: str, metadata: dict[str, Any] | None = None) -> Image:
    meta = ImageMetadata(mime_type="image/jpeg", file_size=1000, width=64, height=48)
    return Image(object_url=url, image_metadata=meta, client_metadata=metadata)


@pytest.mark.parametrize("upsert", [False, True], ids=["skip", "upsert"])
def test_write_finds_what_another_job_wrote_after_the_lookup(tmp_path: Path, catalog_url: str, upsert: bool) -> None:
    root = _catalog(catalog_url, tmp_path / "media")
    urls = _urls(6, root)
    ours = [_image_unit(urls[0], {"v": 0}), _group(urls[1:4]), _image_unit(urls[4], {"v": 2}),
            _image_unit(urls[0], {"v": 3})]  # fmt: skip
    theirs = [_image_unit(urls[0], {"theirs": 0}), _group(urls[1:4]), _image_unit(urls[5])]
    with Accessio(catalog_url) as app:  # two jobs (their units are not worked here)
        spec = UploadSpec(images=[ours[0]], skip_duplicate_urls=True, upsert_metadata=upsert)
        job = app.start_registration(spec, folder=FOLDER, integration="media")
        other = app.start_registration(spec, folder=FOLDER, integration="media")
        folder_id, integration_id = job.record.folder_id, job.record.integration_id
    engine = create_engine(catalog_url)
    now = datetime.now(UTC)

    def rows(job_id: str, units: list[Any]) -> list[tuple[Any, ...]]:
        ctx = UnitContext(job_id, folder_id, integration_id, now, dialect=engine.dialect.name)
        return [row for index, unit in enumerate(units) for row in item_rows(ctx, index, unit)]

    def stored_vectors() -> list[tuple[str, list[float]]]:
        with engine.connect() as conn:
            found = conn.execute(sa.select(embeddings.c.item_id, embedding_store.stored_vector(conn)))
            return [(item, embedding_store.vector_of_stored(conn, value).tolist()) for item, value in found]

    one, two = embedding_store.to_blob([1.0, 1.0]), embedding_store.to_blob([2.0, 2.0])
    # What the runner prepared for units 0 to 3 while the folder was empty: items for
    # units 0 to 2; unit 3 repeats unit 0 (with upsert_metadata: an upsert of its item).
    first = ChunkWrite(
        job.id, 0, 4, rows(job.id, ours[:3]), [], [], {"created": 3, "skipped": 0, "upserted": 0},
        vectors=[(item_id(job.id, 0), "e", None, one)],
        folder_id=folder_id, skip_duplicate_urls=True, upsert_metadata=upsert,
    )  # fmt: skip
    if upsert:
        first.upserts.append(Upsert(item_id(job.id, 0), {"v": 3}, now))
        first.upsert_vectors.append((item_id(job.id, 0), "e", None, two))
        first.outcome["upserted"] = 1
    else:
        first.outcome["skipped"] = 1
    # ... then the other job wrote unit 0's URL and the group, before our write.
    their_write = ChunkWrite(other.id, 0, 3, rows(other.id, theirs), [], [], {"created": 3},
                             folder_id=folder_id, skip_duplicate_urls=True)  # fmt: skip
    write_chunk(engine, their_write)
    moved: dict[str, str] = {}
    write_chunk(engine, first, moved)

    with engine.connect() as conn:
        found = list(conn.execute(sa.select(items)))
        record = job_store.get(conn, job.id)
    assert Counter(row.url for row in found if row.parent_item_id is None) == Counter(
        {urls[0]: 1, None: 1, urls[4]: 1, urls[5]: 1}
    )
    assert sum(row.parent_item_id is not None for row in found) == 3  # the group's children, once
    theirs_first = item_id(other.id, 0)
    assert moved == {item_id(job.id, 0): theirs_first, item_id(job.id, 1): item_id(other.id, 1)}
    metadata = {row.id: row.client_metadata for row in found}
    if upsert:
        assert metadata[theirs_first] == {"v": 3}  # unit 3's upsert followed unit 0 there
        assert stored_vectors() == [(theirs_first, [2.0, 2.0])]
        assert first.outcome == {"created": 1, "skipped": 0, "upserted": 3}
    else:
        assert metadata[theirs_first] == {"theirs": 0}
        assert stored_vectors() == []
        assert first.outcome == {"created": 1, "skipped": 3, "upserted": 0}
    assert (record.created, record.skipped, record.upserted, record.next_unit) == (
        first.outcome["created"], first.outcome["skipped"], first.outcome["upserted"], 4,
    )  # fmt: skip

    if upsert:
        # A later chunk's upsert of our item that was not inserted goes to the item found.
        later = ChunkWrite(job.id, 4, 5, [], [Upsert(item_id(job.id, 0), {"v": 9}, now)], [], {"upserted": 1},
                           upsert_vectors=[(item_id(job.id, 0), "e", None, one)],
                           folder_id=folder_id, skip_duplicate_urls=True, upsert_metadata=True)  # fmt: skip
        write_chunk(engine, later, moved)
        with engine.connect() as conn:
            assert conn.execute(sa.select(items.c.client_metadata).where(items.c.id == theirs_first)).scalar() == {
                "v": 9
            }
        assert stored_vectors() == [(theirs_first, [1.0, 1.0])]
    engine.dispose()
