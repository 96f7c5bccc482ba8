"""The commands of the Celery executor: ``accessio worker [ls]``, ``register --executor
celery [--detach]``, ``serve --executor celery``, chunk holders in ``jobs ls``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from accessio.cli import app as cli_app
from accessio.service import Accessio
from tests.api.live import start_server
from tests.cluster.test_workers import submit, urls, wait_final, wait_for
from tests.cluster_servers import ACCESSIO, LatencyProxy, RedisServer, Workers, free_port

runner = CliRunner()


def test_the_celery_executor_needs_postgresql_and_a_broker(
    tmp_path: Path, pg_catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACCESSIO_BROKER_URL", raising=False)
    sqlite = str(tmp_path / "catalog.db")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": (tmp_path / "a.jpg").as_uri()}]}))
    broker = ["--broker-url", "redis://127.0.0.1:9/0"]

    result = runner.invoke(cli_app, ["worker", "--catalog", sqlite, *broker])
    assert result.exit_code == 2
    assert "needs a PostgreSQL catalog" in result.stderr
    assert "this catalog is sqlite" in result.stderr

    assert runner.invoke(cli_app, ["integration", "add", "disk", "--provider", "local", "--root", str(tmp_path),
                                   "--catalog", sqlite]).exit_code == 0  # fmt: skip
    result = runner.invoke(cli_app, ["register", str(spec), "--folder", "f", "--integration", "disk",
                                     "--executor", "celery", "--catalog", sqlite, *broker])  # fmt: skip
    assert result.exit_code == 2
    assert "needs a PostgreSQL catalog" in result.stderr
    with Accessio(sqlite) as app:
        assert app.jobs() == []  # nothing stored

    result = runner.invoke(cli_app, ["serve", "--executor", "celery", "--catalog", sqlite, *broker])
    assert result.exit_code == 2
    assert "needs a PostgreSQL catalog" in result.stderr

    result = runner.invoke(cli_app, ["worker", "--catalog", pg_catalog])
    assert result.exit_code == 2
    assert "set ACCESSIO_BROKER_URL" in result.stderr

    result = runner.invoke(cli_app, ["register", str(spec), "--folder", "f", "--integration", "disk", "--detach",
                                     "--catalog", sqlite])  # fmt: skip
    assert result.exit_code == 2
    assert "--detach needs --executor celery" in result.stderr


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ACCESSIO, *args], capture_output=True, text=True, check=False, env={**os.environ, **env},
                          timeout=180)  # fmt: skip


@pytest.mark.slow
def test_register_on_workers_and_watch_them(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy, tmp_path: Path
) -> None:
    workers.start("w1")
    workers.start("w2")
    env = {"ACCESSIO_CATALOG": workers.catalog, "ACCESSIO_BROKER_URL": redis.url}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": u} for u in urls(proxy, 100)]}))
    done = cli(env, "register", str(spec), "--folder", "f", "--integration", "s3", "--executor", "celery", "--json",
               "--create-folder")  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["status"], shown["counts"]["created"]) == ("DONE", 100)

    spec.write_text(json.dumps({"images": [{"objectUrl": u} for u in urls(proxy, 50, start=100)]}))
    detached = cli(env, "register", str(spec), "--folder", "f", "--integration", "s3", "--executor", "celery",
                   "--detach", "--json")  # fmt: skip
    assert detached.returncode == 0, detached.stderr
    job_id = json.loads(detached.stdout)["id"]
    assert wait_final(app, job_id)["counts"]["created"] == 50

    big = submit(app, redis, urls(proxy, 400, start=150), chunk_reads=10)
    resumed = runner.invoke(cli_app, ["jobs", "resume", big, "--catalog", workers.catalog])
    assert resumed.exit_code == 1
    assert "is worked by the Celery workers (celery/accessio)" in resumed.stderr
    lines: list[str] = []


    def a_chunk_is_shown() -> bool:
        listed = runner.invoke(cli_app, ["jobs", "ls", "--catalog", workers.catalog]).stdout
        lines[:] = [line for line in listed.splitlines() if line.strip().startswith("chunk ")]
        return bool(lines)

    wait_for(a_chunk_is_shown, 60, "jobs ls to show a chunk in work")
    assert any(" on w1@test " in line or " on w2@test " in line for line in lines), lines
    listed = json.loads(cli(env, "jobs", "ls", "--json").stdout)
    assert {job["id"] for job in listed} >= {big, job_id}
    assert wait_final(app, big)["status"] == "DONE"

    shown_workers: list[dict[str, Any]] = []

    def every_chunk_counted() -> bool:  # 1 + 1 + 40 chunks, counted at the workers' next beats
        shown_workers[:] = json.loads(cli(env, "worker", "ls", "--json").stdout)
        return sum(w["chunksDone"] for w in shown_workers) >= 42

    wait_for(every_chunk_counted, 60, "worker ls to count every chunk")
    assert sorted(w["node"] for w in shown_workers) == ["w1@test", "w2@test"]
    assert all(w["alive"] for w in shown_workers)
    assert "ALIVE" in cli(env, "worker", "ls").stdout


@pytest.mark.slow
def test_serve_hands_its_jobs_to_the_workers(
    app: Accessio, redis: RedisServer, workers: Workers, proxy: LatencyProxy, tmp_path: Path
) -> None:
    env = {"ACCESSIO_CATALOG": workers.catalog, "ACCESSIO_BROKER_URL": redis.url}
    assert cli(env, "user", "add", "ops", "--admin").returncode == 0
    token = cli(env, "token", "create", "ops").stdout.strip()
    workers.start("w1")
    server = start_server(workers.catalog, tmp_path / "server.log", "--executor", "celery", "--rate-limit", "0",
                          env={"ACCESSIO_BROKER_URL": redis.url})  # fmt: skip
    try:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=90)
        folder = client.post("/v2/public/storage/folders", json={"name": "served"}).json()["uuid"]
        integration = client.get("/v2/public/cloud-integrations").json()["result"][0]["integrationUuid"]
        body: dict[str, Any] = {
            "externalFiles": {"images": [{"objectUrl": u} for u in urls(proxy, 120, start=300)]},
            "integrationHash": integration,
            "ignoreErrors": False,
        }
        response = client.post(f"/v2/public/storage/folders/{folder}/data-upload-jobs", json=body)
        assert response.status_code == 200, response.text
        job_id = str(response.json())
        polled = client.get(f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job_id}?timeoutSeconds=60")
        assert polled.json()["status"] == "DONE", polled.text
        assert polled.json()["unitsDoneCount"] == 120
        with app.engine.connect():
            assert app.job(job_id).record.lease_holder is None  # the workers gave the job back when it ended
        client.close()
    finally:
        server.stop()
    assert "jobs go to the workers of queue accessio" in server.output()


def test_a_broker_that_cannot_be_reached_is_said_without_its_password(
    app: Accessio, proxy: LatencyProxy, tmp_path: Path
) -> None:
    closed = free_port()  # nothing listens there
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": u} for u in urls(proxy, 3)]}))
    catalog = str(app.engine.url.render_as_string(hide_password=False))
    result = runner.invoke(cli_app, ["register", str(spec), "--folder", "f", "--integration", "s3", "--executor",
                                     "celery", "--broker-url", f"redis://:hunter2@127.0.0.1:{closed}/0",
                                     "--catalog", catalog, "--create-folder"])  # fmt: skip
    assert result.exit_code == 1
    assert "cannot be reached" in result.stderr
    assert f"127.0.0.1:{closed}" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    (job,) = app.jobs()  # stored, its first chunk marked sent: a worker's sweep sends it once the broker is back
    assert job.status == "PENDING"
    assert job.record.lease_holder == "celery/accessio"
