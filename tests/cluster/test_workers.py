"""Registration on Celery workers: real Redis, PostgreSQL (pgserver), moto's S3 behind a
20 ms latency proxy, ``accessio worker`` processes. Items are counted by URL."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from accessio.catalog import chunks as chunk_store
from accessio.catalog.jobs import FINAL
from accessio.catalog.schema import items, job_chunks
from accessio.cluster.broker import ChunkSender
from accessio.cluster.handoff import hand_to_workers, holder_for
from accessio.service import Accessio
from accessio.spec import Image, ImageGroup, UploadSpec
from tests.cluster_servers import LatencyProxy, RedisServer, Workers

pytestmark = pytest.mark.slow


def urls(proxy: LatencyProxy, count: int, start: int = 0) -> list[str]:
    return [f"{proxy.endpoint}/many/img/{n:05d}.jpg" for n in range(start, start + count)]


def submit(app: Accessio, redis: RedisServer, objects: list[str], *, chunk_reads: int = 20, **spec: Any) -> str:
    """Store a job of images (read: no metadata supplied) and hand it to the workers."""
    job = app.start_registration(
        UploadSpec(images=[Image(object_url=u) for u in objects], **spec),
        folder="f",
        integration="s3",
        lease_holder=holder_for("accessio"),
    )
    sender = ChunkSender(redis.url)
    try:
        hand_to_workers(app, job.id, sender, chunk_reads=chunk_reads)
    finally:
        sender.close()
    return job.id


def wait_for(condition: Any, timeout_s: float = 60.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_final(app: Accessio, job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    wait_for(lambda: app.job(job_id).status in FINAL, timeout_s, f"job {job_id} to end")
    return app.job(job_id).to_json()


def chunks_by_status(app: Accessio, job_id: str) -> Counter[str]:
    with app.engine.connect() as conn:
        return Counter(chunk_store.chunk_counts(conn, job_id))


def urls_in_folder(app: Accessio) -> Counter[str]:
    with app.engine.connect() as conn:
        return Counter(conn.execute(sa.select(items.c.url)).scalars())


def holders(app: Accessio, job_id: str) -> set[str]:
    with app.engine.connect() as conn:
        query = sa.select(job_chunks.c.holder).where(job_chunks.c.job_id == job_id, job_chunks.c.status == "done")
        return {holder.split("/")[1] for holder in conn.execute(query).scalars()}


def test_a_job_is_spread_over_two_workers_each_unit_once(app: Accessio, redis: RedisServer, workers: Workers,
                                                         proxy: LatencyProxy) -> None:  # fmt: skip
    workers.start("w1")
    workers.start("w2")
    objects = urls(proxy, 400)
    job_id = submit(app, redis, objects)
    shown = wait_final(app, job_id)
    assert shown["status"] == "DONE", shown
    assert shown["counts"] == {"pending": 0, "done": 400, "error": 0, "cancelled": 0, "created": 400,
                               "skipped": 0, "upserted": 0}  # fmt: skip
    assert urls_in_folder(app) == Counter(objects)
    assert chunks_by_status(app, job_id) == {"done": 20}
    assert len(holders(app, job_id)) == 2  # both workers' processes worked chunks
    (item,) = [i for i in app.items("f", limit=1000) if i["url"] == objects[7]]
    assert (item["mimeType"], item["width"]) == ("image/jpeg", 15)  # read through the proxy

    # Image groups: a unit (its 3 images) is never split across chunks.
    app.create_folder("groups")
    members = urls(proxy, 90, start=400)
    grouped = [ImageGroup(urls=tuple(members[n : n + 3]), title=f"g{n // 3}") for n in range(0, 90, 3)]
    job = app.start_registration(UploadSpec(image_groups=grouped), folder="groups", integration="s3",
                                 lease_holder=holder_for("accessio"))  # fmt: skip
    sender = ChunkSender(redis.url)
    try:
        hand_to_workers(app, job.id, sender, chunk_reads=10)
    finally:
        sender.close()
    shown = wait_final(app, job.id)
    assert (shown["status"], shown["counts"]["created"]) == ("DONE", 30)
    with app.engine.connect() as conn:
        planned = sa.select(job_chunks.c.first_unit, job_chunks.c.end_unit).where(job_chunks.c.job_id == job.id)
        bounds = conn.execute(planned.order_by(job_chunks.c.chunk_index)).all()
        children = conn.execute(
            sa.select(items.c.url, items.c.position).where(items.c.job_id == job.id, items.c.parent_item_id.isnot(None))
        ).all()
    assert [tuple(b) for b in bounds] == [(n, n + 3) for n in range(0, 30, 3)]  # 3 groups (9 reads) a chunk
    assert Counter(url for url, _ in children) == Counter(members)


def running_chunk_of(app: Accessio, job_id: str, node: str) -> tuple[int, str] | None:
    """A chunk of the job that a process of worker ``node`` works now."""
    with app.engine.connect() as conn:
        for chunk in chunk_store.held(conn, [job_id]).get(job_id, []):
            if chunk.node == node and chunk.holder is not None:
                return chunk.index, chunk.holder
    return None


def chunk_row(app: Accessio, job_id: str, index: int) -> Any:
    with app.engine.connect() as conn:
        query = sa.select(job_chunks).where(job_chunks.c.job_id == job_id, job_chunks.c.chunk_index == index)
        return conn.execute(query).one()


def test_kill_9_of_a_worker_mid_job_the_other_finishes_each_unit_once(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy
) -> None:
    workers.start("w1")
    workers.start("w2")
    objects = urls(proxy, 600)
    job_id = submit(app, redis, objects)  # 30 chunks
    seen: list[tuple[int, str]] = []

    def w1_works_a_chunk() -> bool:
        found = running_chunk_of(app, job_id, "w1@test")
        if found is not None and chunks_by_status(app, job_id)["done"] >= 3:
            seen.append(found)
            return True
        return False

    wait_for(w1_works_a_chunk, 60, "w1 to work a chunk")
    workers.kill("w1")
    killed_chunk, killed_holder = seen[0]
    shown = wait_final(app, job_id)
    assert shown["status"] == "DONE", shown
    assert (shown["counts"]["created"], shown["counts"]["error"], shown["counts"]["pending"]) == (600, 0, 0)
    assert urls_in_folder(app) == Counter(objects)  # every unit exactly once
    redone = chunk_row(app, job_id, killed_chunk)
    assert redone.status == "done"
    assert redone.holder != killed_holder  # the chunk in work when w1 died was done by w2
    assert redone.attempts >= 2
    assert chunks_by_status(app, job_id) == {"done": 30}


def test_the_broker_restarted_during_a_job(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy
) -> None:
    workers.start("w1")
    objects = urls(proxy, 400)
    job_id = submit(app, redis, objects)
    wait_for(lambda: chunks_by_status(app, job_id)["done"] >= 3, 60, "some chunks to be done")
    redis.restart(down_s=1.0)
    shown = wait_final(app, job_id, timeout_s=120)
    assert shown["status"] == "DONE", shown
    assert shown["counts"]["created"] == 400
    assert urls_in_folder(app) == Counter(objects)


def test_the_catalog_connection_dropped_during_chunks(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy, postgres: Any
) -> None:
    workers.start("w1")
    workers.start("w2")
    objects = urls(proxy, 400)
    job_id = submit(app, redis, objects)
    database = app.engine.url.database
    dropped = 0
    for _ in range(3):
        wait_for(lambda: bool(running_chunk_of(app, job_id, "w1@test") or running_chunk_of(app, job_id, "w2@test")),
                 60, "a chunk in work")  # fmt: skip
        with app.engine.connect() as conn:
            dropped += len(conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}
            ).all())  # fmt: skip
        time.sleep(0.7)
    assert dropped > 0
    shown = wait_final(app, job_id, timeout_s=120)
    assert shown["status"] == "DONE", shown
    assert shown["counts"]["created"] == 400
    assert urls_in_folder(app) == Counter(objects)


def test_cancelling_a_job_stops_its_queued_and_running_chunks(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy
) -> None:
    workers.start("w1")
    workers.start("w2")
    objects = urls(proxy, 600)
    job_id = submit(app, redis, objects)
    wait_for(lambda: chunks_by_status(app, job_id)["done"] >= 3, 60, "some chunks to be done")
    app.job(job_id).cancel()
    wait_for(lambda: not ({"sent", "running", "planned"} & set(chunks_by_status(app, job_id))), 30,
             "every chunk to end")  # fmt: skip
    shown = app.job(job_id).to_json()
    assert shown["status"] == "CANCELLED"
    wait_for(lambda: app.job(job_id).record.lease_holder is None, 30, "the workers to give the job back")
    registered = urls_in_folder(app)
    time.sleep(1.5)
    assert urls_in_folder(app) == registered  # nothing is written after the chunks ended
    counts = shown["counts"]
    assert sum(registered.values()) == counts["created"] == counts["done"]
    assert set(registered.values()) == {1}
    assert counts["cancelled"] > 0
    assert counts["done"] + counts["cancelled"] == 600
    by_status = chunks_by_status(app, job_id)
    assert by_status["done"] * 20 == counts["done"]
    assert by_status["cancelled"] > 0


def test_a_small_job_is_not_held_back_by_a_large_one_before_it(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy
) -> None:
    workers.start("w1")
    big = submit(app, redis, urls(proxy, 600), chunk_reads=10)  # 60 chunks, 8 at a time in the broker
    wait_for(lambda: chunks_by_status(app, big)["done"] >= 2, 60, "the large job to start")
    app.create_folder("g")
    small_job = app.start_registration(
        UploadSpec(images=[Image(object_url=u) for u in urls(proxy, 10)]),
        folder="g",
        integration="s3",
        lease_holder=holder_for("accessio"),
    )
    sender = ChunkSender(redis.url)
    try:
        hand_to_workers(app, small_job.id, sender)
    finally:
        sender.close()
    assert wait_final(app, small_job.id)["status"] == "DONE"
    left = chunks_by_status(app, big)
    assert left["planned"] + left["sent"] + left["running"] >= 40, left  # the large job has most of its work left
    assert wait_final(app, big)["status"] == "DONE"


def test_duplicates_in_chunks_worked_at_once_are_registered_once(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy
) -> None:
    workers.start("w1")
    workers.start("w2")
    objects = urls(proxy, 200)
    job_id = submit(app, redis, objects + objects[::-1], skip_duplicate_urls=True)  # 20 chunks of 20
    shown = wait_final(app, job_id)
    assert shown["status"] == "DONE", shown
    assert (shown["counts"]["created"], shown["counts"]["skipped"]) == (200, 200)
    assert urls_in_folder(app) == Counter(objects)


def test_upserts_keep_the_order_of_units(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy
) -> None:
    workers.start("w1")
    workers.start("w2")
    objects = urls(proxy, 60)
    units = [Image(object_url=u, client_metadata={"round": 1}) for u in objects]
    units += [Image(object_url=u, client_metadata={"round": 2}) for u in objects]
    units += [Image(object_url=u, client_metadata={"round": 3}) for u in objects[:30]]
    job = app.start_registration(
        UploadSpec(images=units, skip_duplicate_urls=True, upsert_metadata=True),
        folder="f",
        integration="s3",
        lease_holder=holder_for("accessio"),
    )
    sender = ChunkSender(redis.url)
    try:
        hand_to_workers(app, job.id, sender, chunk_reads=10)
    finally:
        sender.close()
    shown = wait_final(app, job.id)
    assert shown["status"] == "DONE", shown
    assert (shown["counts"]["created"], shown["counts"]["upserted"]) == (60, 90)
    rounds = {item["url"]: item["clientMetadata"]["round"] for item in app.items("f", limit=1000)}
    assert rounds == {u: 3 if n < 30 else 2 for n, u in enumerate(objects)}
