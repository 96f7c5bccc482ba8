"""A job's end enqueues one delivery per webhook that wants it, in the transaction
that ends the job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from accessio.catalog import jobs as job_store
from accessio.catalog.schema import webhook_deliveries
from accessio.service import OPERATOR, Accessio
from accessio.service import folders as folder_service
from tests.webhooks.conftest import register

PUBLIC = "https://93.184.216.34/hook"  # an address literal: no name to resolve


def _payload(app: Accessio, webhook_id: str) -> list[dict[str, Any]]:
    """The bodies of a webhook's deliveries, as they will be sent."""
    found = app.webhooks.deliveries(webhook_id)
    with app.engine.connect() as conn:
        bodies = dict(conn.execute(sa.select(webhook_deliveries.c.id, webhook_deliveries.c.payload)).all())
    return [json.loads(bodies[d.id]) for d in found]


def test_a_register_job_enqueues_one_job_finished_per_matching_webhook(app: Accessio, media: Path) -> None:
    own, _ = app.webhooks.add(PUBLIC, folder="cars/day")
    parent, _ = app.webhooks.add(PUBLIC + "/parent", folder="cars")
    everywhere, _ = app.webhooks.add(PUBLIC + "/all")
    sibling, _ = app.webhooks.add(PUBLIC + "/boats", folder="boats")
    syncs_only, _ = app.webhooks.add(PUBLIC + "/syncs", folder="cars", events=["sync.finished"])
    job = register(app, media, "cars/day")
    assert job.status == "DONE"
    for view in (own, parent, everywhere):
        (body,) = _payload(app, view.record.id)
        (delivery,) = app.webhooks.deliveries(view.record.id)
        assert (delivery.event, delivery.status, delivery.job_id, delivery.attempts) == (
            "job.finished", "pending", job.id, 0)  # fmt: skip
        assert (body["id"], body["event"]) == (delivery.id, "job.finished")
        shown = body["job"]
        assert (shown["id"], shown["kind"], shown["status"], shown["folderPath"]) == (job.id, "register", "DONE",
                                                                                       "cars/day")  # fmt: skip
        assert shown["counts"] == {"pending": 0, "done": 1, "error": 0, "cancelled": 0, "created": 1,
                                   "skipped": 0, "upserted": 0}  # fmt: skip
        assert shown["folderId"] == app.folder("cars/day").id
    assert app.webhooks.deliveries(sibling.record.id) == []
    assert app.webhooks.deliveries(syncs_only.record.id) == []


def test_a_sync_job_enqueues_sync_finished_with_its_counters(app: Accessio) -> None:
    jobs_too, _ = app.webhooks.add(PUBLIC, folder="boats")
    registrations, _ = app.webhooks.add(PUBLIC + "/r", folder="boats", events=["job.finished"])
    folder = app.folder("boats")
    with app.engine.begin() as conn:
        record = job_store.create(
            conn, folder_id=folder.id, integration_id=app.integration_record("media").id, file_name=None,
            ignore_errors=False, skip_duplicate_urls=True, upsert_metadata=False, units=b"", units_total=0,
            kind="sync",
        )  # fmt: skip
        conn.execute(job_store.jobs.update().where(job_store.jobs.c.id == record.id).values(
            sync_counts={"listed": 10, "added": 2, "moved": 1}))  # fmt: skip
        job_store.set_status(conn, record.id, "DONE", finished=True)
    (body,) = _payload(app, jobs_too.record.id)
    assert body["event"] == "sync.finished"
    job = body["job"]
    assert (job["kind"], job["syncCounts"]) == ("sync", {"listed": 10, "added": 2, "moved": 1})
    assert app.webhooks.deliveries(registrations.record.id) == []


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "sqlite-before-3.35"])
def test_a_job_ends_once_a_cancelled_job_announces_once(
    app: Accessio, media: Path, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.engine.dialect, "update_returning", returning)  # SQLite before 3.35 has no RETURNING
    hook, _ = app.webhooks.add(PUBLIC, folder="cars")
    job = app.start_registration(_spec(media), folder="cars/day", integration="media")
    assert job.cancel() == 1
    with app.engine.begin() as conn:  # ending it again (a worker finishing late) announces nothing more
        job_store.set_status(conn, job.id, "DONE", finished=True)
    assert [d.event for d in app.webhooks.deliveries(hook.record.id)] == ["job.finished"]
    (body,) = _payload(app, hook.record.id)
    assert body["job"]["status"] == "CANCELLED"


def test_a_rolled_back_end_enqueues_nothing(app: Accessio, media: Path) -> None:
    hook, _ = app.webhooks.add(PUBLIC, folder="cars")
    job = app.start_registration(_spec(media), folder="cars/day", integration="media")

    def end_then_fail() -> None:
        with app.engine.begin() as conn:
            job_store.set_status(conn, job.id, "ERROR", finished=True)
            count = sa.select(sa.func.count()).select_from(webhook_deliveries)
            assert conn.execute(count).scalar_one() == 1  # enqueued, in the job's transaction
            raise RuntimeError("the transaction fails after the status was written")

    with pytest.raises(RuntimeError, match="fails after"):
        end_then_fail()
    assert job.status == "PENDING"
    assert app.webhooks.deliveries(hook.record.id) == []


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "sqlite-before-3.35"])
def test_without_webhooks_nothing_is_enqueued(
    app: Accessio, media: Path, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.engine.dialect, "update_returning", returning)
    job = register(app, media, "cars/day")
    assert job.status == "DONE"
    assert app.webhooks.deliveries() == []


def test_deleting_a_folder_deletes_its_webhooks_and_their_deliveries(app: Accessio, media: Path) -> None:
    app.webhooks.add(PUBLIC, folder="cars")
    everywhere, _ = app.webhooks.add(PUBLIC + "/all")
    register(app, media, "cars/day")
    assert len(app.webhooks.deliveries()) == 2
    folder_service.delete_folder(app, OPERATOR, app.folder("cars").id)
    assert [v.record.id for v in app.webhooks.all()] == [everywhere.record.id]
    assert [d.webhook_id for d in app.webhooks.deliveries()] == [everywhere.record.id]


def _spec(media: Path) -> Path:
    spec = media / "one.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": (media / "0.jpg").as_uri()}]}))
    return spec
