"""``accessio webhook ...`` and the webhooks of a job the CLI runs; the secret shows once
and nowhere else (listings, JSON, deliveries, logs)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accessio.cli import app as cli
from accessio.service import Accessio
from tests.webhooks.conftest import register
from tests.webhooks.receiver import receiving, verify

runner = CliRunner()


def _run(app: Accessio, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, [*args, "--catalog", app.catalog])
    return result.exit_code, result.stdout, result.stderr


def test_add_ls_rm_and_a_registration_that_posts_its_end(app: Accessio, media: Path) -> None:
    with receiving() as receiver:
        code, added, _ = _run(app, "webhook", "add", receiver.url(), "--folder", "cars", "--allow-private-network",
                              "--events", "job.finished", "--json")  # fmt: skip
        assert code == 0
        made = json.loads(added)
        secret = made.pop("secret")
        code, listed, _ = _run(app, "webhook", "ls", "--json")
        assert (code, json.loads(listed)) == (0, [made])
        code, table, _ = _run(app, "webhook", "ls")
        assert made["id"] in table
        assert secret not in listed + table
        spec = media / "spec.json"
        spec.write_text(json.dumps({"images": [{"objectUrl": (media / "0.jpg").as_uri()}]}))
        code, _, _ = _run(app, "register", str(spec), "--folder", "cars/day", "--integration", "media")
        assert code == 0
        (request,) = receiver.requests  # sent by the command, right after its job ended
    assert verify(secret, request.headers, request.body)
    code, shown, _ = _run(app, "webhook", "deliveries", made["id"][:8], "--json")
    (delivery,) = json.loads(shown)
    assert (code, delivery["status"], delivery["attempts"], delivery["lastStatusCode"]) == (0, "delivered", 1, 200)
    assert secret not in shown
    code, removed, _ = _run(app, "webhook", "rm", made["id"][:8])
    assert (code, removed) == (0, f"removed webhook {made['id']}\n")
    assert _run(app, "webhook", "ls", "--json")[1] == "[]\n"


def test_the_add_command_prints_the_secret_once_in_text(app: Accessio) -> None:
    code, printed, warned = _run(app, "webhook", "add", "https://93.184.216.34/hook", "--folder", "boats")
    assert code == 0
    first, second = printed.splitlines()
    assert re.fullmatch(r"webhook [0-9a-f-]{36} posts job.finished, sync.finished to https://93.184.216.34/hook", first)
    assert second.startswith("secret: whsec_")
    assert "not shown again" in warned


def test_refusals_exit_1_with_the_reason(app: Accessio) -> None:
    code, _, message = _run(app, "webhook", "add", "http://localhost:9/hook")
    assert code == 1
    assert "localhost resolves to" in message
    assert "(loopback)" in message
    code, _, message = _run(app, "webhook", "add", "https://93.184.216.34/", "--events", "job.done")
    assert code == 1
    assert "event 'job.done' is not one of job.finished, sync.finished" in message
    code, _, message = _run(app, "webhook", "rm", "0000")
    assert code == 1
    assert "webhook '0000' not found" in message
    code, _, message = _run(app, "webhook", "retry", "0000")
    assert code == 1
    assert "delivery '0000' not found" in message


def test_deliver_sends_what_is_due_and_failures_name_no_secret(
    app: Accessio, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with receiving([500]) as receiver:
        hook, secret = app.webhooks.add(receiver.url("/hook?token=url-token"), allow_private_network=True)
        register(app, media, "boats")
        with caplog.at_level(logging.DEBUG):
            code, out, _ = _run(app, "webhook", "deliver", "--json")
            assert app.webhooks.deliver().attempted == 0  # the next attempt waits for its backoff
    assert (code, json.loads(out)) == (0, {"delivered": 0, "retrying": 1, "failed": 0})
    assert len(receiver.requests) == 1
    assert hook.record.id in caplog.text  # the sends were logged, by webhook id
    _, shown, _ = _run(app, "webhook", "deliveries", "--json")
    _, table, _ = _run(app, "webhook", "deliveries")
    for text in (caplog.text, shown, table):
        assert secret not in text
        assert "url-token" not in text
    assert json.loads(shown)[0]["lastError"] == "HTTP 500"
    assert "HTTP 500" in table
