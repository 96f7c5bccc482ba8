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
from accessio.spec import Image, UploadSpec
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
