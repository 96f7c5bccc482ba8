"""Two processes sending at once: every delivery reaches the receiver exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accessio.catalog import jobs as job_store
from accessio.service import Accessio
from tests.webhooks.receiver import receiving

JOBS = 24


@pytest.mark.slow
def test_two_processes_deliver_each_event_exactly_once(catalog_url: str, tmp_path: Path) -> None:
    app = Accessio(catalog_url)
    try:
        media = tmp_path / "media"
        media.mkdir()
        integration = app.add_integration("media", "local", root=str(media))
        folder = app.create_folder("cars")
        with receiving(delay_s=0.15) as receiver:
            app.webhooks.add(receiver.url(), folder="cars", allow_private_network=True)
            with app.engine.begin() as conn:  # jobs that end (their webhooks' deliveries are enqueued)
                for _ in range(JOBS):
                    job = job_store.create(
                        conn, folder_id=folder.id, integration_id=integration.id, file_name=None,
                        ignore_errors=False, skip_duplicate_urls=False, upsert_metadata=False, units=b"",
                        units_total=0,
                    )  # fmt: skip
                    job_store.set_status(conn, job.id, "DONE", finished=True)
            assert len(app.webhooks.deliveries(status="pending")) == JOBS
            command = [sys.executable, "-m", "accessio", "webhook", "deliver", "--json", "--catalog", catalog_url]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            senders = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
            reports = [json.loads(sender.communicate(timeout=60)[0]) for sender in senders]
        ids = [request.headers["Accessio-Delivery"] for request in receiver.requests]
        assert len(ids) == JOBS
        assert len(set(ids)) == JOBS
        assert sum(report["delivered"] for report in reports) == JOBS
        assert [d.status for d in app.webhooks.deliveries()] == ["delivered"] * JOBS
    finally:
        app.close()
