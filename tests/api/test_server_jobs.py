"""Jobs worked by a real server: leases, a crash and a restart, a graceful stop, the
long-poll, and concurrent registrations of the same URLs (never duplicated)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from accessio.catalog.schema import items
from accessio.service import Accessio
from tests.api.live import LiveServer, start_server
from tests.samples import jpeg_bytes

FILES = 20_000  # objects probed (read) by the job: several seconds of work to interrupt


def cli(catalog: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "accessio", *args, "--catalog", catalog]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    media = tmp_path / "media"
    media.mkdir()
    data = jpeg_bytes(16, 12)
    for n in range(FILES):
        (media / f"{n:05d}.jpg").write_bytes(data)
    catalog = str(tmp_path / "catalog.db")
    cli(catalog, "integration", "add", "media", "--provider", "local", "--root", str(media)).check_returncode()
    cli(catalog, "user", "add", "ops", "--admin").check_returncode()
    token = cli(catalog, "token", "create", "ops").stdout.strip()
    images = [{"objectUrl": (media / f"{n:05d}.jpg").as_uri()} for n in range(FILES)]
    spec = {"images": images, "skip_duplicate_urls": True}
    return {"catalog": catalog, "token": token, "spec": spec, "media": media, "log": tmp_path / "server.log"}


class Api:
    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=90)

    def folder(self, name: str) -> str:
        response = self.client.post("/v2/public/storage/folders", json={"name": name})
        response.raise_for_status()
        return str(response.json()["uuid"])

    def integration(self) -> str:
        return str(self.client.get("/v2/public/cloud-integrations").json()["result"][0]["integrationUuid"])

    def register(self, folder: str, spec: dict[str, Any]) -> str:
        body = {"externalFiles": spec, "integrationHash": self.integration(), "ignoreErrors": False}
        response = self.client.post(f"/v2/public/storage/folders/{folder}/data-upload-jobs", json=body)
        assert response.status_code == 200, response.text
        return str(response.json())

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/jobs/{job_id}")
        response.raise_for_status()
        return dict(response.json())

    def poll(self, folder: str, job_id: str, timeout: int) -> dict[str, Any]:
        url = f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job_id}?timeoutSeconds={timeout}"
        response = self.client.get(url)
        response.raise_for_status()
        return dict(response.json())


def _wait_for(predicate: Any, what: str, timeout: float = 60, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _urls_in(catalog: str) -> list[str]:
    with Accessio(catalog) as app, app.engine.connect() as conn:
        return list(conn.execute(sa.select(items.c.url).where(items.c.parent_item_id.is_(None))).scalars())


def _start(setup: dict[str, Any], *extra: str) -> tuple[LiveServer, Api]:
    server = start_server(setup["catalog"], setup["log"], "--rate-limit", "0", *extra, new_session=True)
    return server, Api(server, setup["token"])


@pytest.mark.slow
def test_a_crash_leaves_the_job_interrupted_and_a_restart_finishes_it(setup: dict[str, Any]) -> None:
    server, api = _start(setup)
    folder = api.folder("crash")
    job = api.register(folder, setup["spec"])
    _wait_for(lambda: 0 < api.job(job)["counts"]["done"] < FILES, "the job to be under way")
    # while a live process holds it, no one else may take the job
    refused = cli(setup["catalog"], "jobs", "resume", job)
    assert refused.returncode == 1
    assert f"job {job} is being worked by" in refused.stderr
    os.killpg(server.process.pid, signal.SIGKILL)  # the machine goes down: server and its worker
    server.process.wait()
    api.client.close()

    listed = cli(setup["catalog"], "jobs", "ls", "--json")
    shown = next(j for j in json.loads(listed.stdout) if j["id"] == job)
    assert (shown["status"], shown["state"]) == ("PENDING", "interrupted")
    assert 0 < shown["counts"]["done"] < FILES
    assert "INTERRUPTED" in cli(setup["catalog"], "jobs", "ls").stdout

    server, api = _start(setup)  # resumes the job by itself
    try:
        final = api.poll(folder, job, 60)
        assert final["status"] == "DONE", final
        assert final["unitsDoneCount"] == FILES
    finally:
        api.client.close()
        server.stop()
    urls = _urls_in(setup["catalog"])
    assert len(urls) == len(set(urls)) == FILES


@pytest.mark.slow
def test_a_graceful_stop_pauses_the_job_at_a_chunk_and_the_next_start_resumes_it(setup: dict[str, Any]) -> None:
    server, api = _start(setup)
    folder = api.folder("graceful")
    job = api.register(folder, setup["spec"])
    _wait_for(lambda: api.job(job)["state"] == "running", "the job to run")
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert server.stop(timeout=120) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.output()
    api.client.close()
    shown = json.loads(cli(setup["catalog"], "jobs", "show", job, "--json").stdout)
    assert shown["status"] in ("PENDING", "DONE")
    if shown["status"] == "PENDING":
        assert shown["state"] == "interrupted"  # stopped between chunks; no process holds it
    server, api = _start(setup)
    try:
        assert api.poll(folder, job, 60)["status"] == "DONE"
    finally:
        api.client.close()
        server.stop()
    urls = _urls_in(setup["catalog"])
    assert len(urls) == len(set(urls)) == FILES


@pytest.mark.parametrize("workers", [1, 2])
def test_the_long_poll_answers_when_the_job_ends(setup: dict[str, Any], workers: int) -> None:
    """With two worker processes, the job and its long-poll may be in different ones."""
    server, api = _start(setup, "--workers", str(workers))
    try:
        folder = api.folder("poll")
        spec = {"images": setup["spec"]["images"][:20]}
        job = api.register(folder, spec)
        started = time.monotonic()
        state = api.poll(folder, job, 30)
        assert state["status"] == "DONE"
        assert time.monotonic() - started < 20  # answered at the job's end, not after the 30 s
        fresh = Api(server, setup["token"])
        fresh.client.close()
        fresh.client = httpx.Client(  # a connection per request: they land on either worker
            base_url=server.url, headers=dict(api.client.headers), limits=httpx.Limits(max_keepalive_connections=0)
        )
        for _ in range(4):
            assert fresh.poll(folder, fresh.register(folder, {"images": spec["images"][:2]}), 30)["status"] == "DONE"
        fresh.client.close()
        assert [i["name"] for i in state["itemsWithNames"]][:1] == ["00000.jpg"]  # under the root
        held = time.monotonic()
        assert api.poll(folder, job, 30)["status"] == "DONE"  # a finished job answers at once
        assert time.monotonic() - held < 5
    finally:
        api.client.close()
        server.stop()


@pytest.mark.slow
def test_concurrent_registrations_of_the_same_urls_never_duplicate_items(setup: dict[str, Any]) -> None:
    """Three server jobs and a CLI process register the same spec into one folder."""
    server, api = _start(setup, "--job-processes", "3")
    try:
        folder = api.folder("race")
        spec_file = Path(setup["log"]).with_name("race.json")
        spec_file.write_text(json.dumps(setup["spec"]))
        jobs = [api.register(folder, setup["spec"]) for _ in range(3)]
        path = api.client.get(f"/v2/public/storage/folders/{folder}").json()["name"]
        register = subprocess.Popen(
            [sys.executable, "-m", "accessio", "register", str(spec_file), "--folder", path, "--integration", "media",
             "--catalog", setup["catalog"], "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        finals = [api.poll(folder, job, 90) for job in jobs]
        out, errors = register.communicate(timeout=180)
        assert register.returncode == 0, errors
        counts = [api.job(job)["counts"] for job in jobs] + [json.loads(out)["counts"]]
    finally:
        api.client.close()
        server.stop()
    assert all(f["status"] == "DONE" for f in finals), finals
    urls = _urls_in(setup["catalog"])
    assert len(urls) == len(set(urls)) == FILES
    assert sum(c["created"] for c in counts) == FILES
    assert sum(c["skipped"] for c in counts) == 3 * FILES


@pytest.mark.slow
def test_a_job_yields_to_requests_and_still_finishes(setup: dict[str, Any]) -> None:
    """While lists come in, a large job works in small chunks with rests between them (so
    its progress moves in steps of 2,000 units, where a quiet server writes the 20,000
    supplied-metadata units in one chunk), and it still finishes under the load."""
    meta = {"mimeType": "image/jpeg", "fileSize": 1_000, "width": 16, "height": 12}
    spec = {"images": [{**image, "imageMetadata": meta} for image in setup["spec"]["images"]]}
    server, api = _start(setup, "--job-share", "0.2")
    stop = threading.Event()
    quiet = api.folder("quiet")

    def lists() -> None:
        with httpx.Client(base_url=server.url, headers=dict(api.client.headers), timeout=30) as client:
            while not stop.is_set():
                client.get(f"/v2/public/storage/folders/{quiet}/items").raise_for_status()

    try:
        loaders = [threading.Thread(target=lists, daemon=True) for _ in range(4)]
        for loader in loaders:
            loader.start()
        time.sleep(0.5)
        job = api.register(api.folder("busy"), spec)
        seen: set[int] = set()

        def done() -> bool:
            state = api.job(job)
            seen.add(state["counts"]["done"])
            return bool(state["state"] == "done")

        _wait_for(done, "the job to finish under load", timeout=240)
        stop.set()
        for loader in loaders:
            loader.join(30)
        steps = sorted(seen - {0, FILES})
        assert len(steps) >= 2, seen  # several commits on the way
        assert all(step % 2_000 == 0 for step in steps), steps
        quiet_job = api.register(quiet, spec)  # the load stopped: one chunk
        quiet_seen: set[int] = set()

        def quiet_done() -> bool:
            state = api.job(quiet_job)
            quiet_seen.add(state["counts"]["done"])
            return bool(state["state"] == "done")

        # polled well under the server's quiet rate (20 requests/s), so that the polls
        # themselves do not make the server busy
        _wait_for(quiet_done, "the job of a quiet server to finish", every=0.25)
        assert quiet_seen - {0, FILES} == set()
    finally:
        stop.set()
        api.client.close()
        server.stop()
