"""Deliveries reach a real receiver on loopback: signed as docs/webhooks.md says, retried
with backoff, given up after the last attempt, never redirected."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from accessio.service import Accessio
from accessio.service.webhook_registry import DeliveryNotFailed
from accessio.service.webhooks import WebhookSettings, backoff_s
from tests.webhooks.conftest import register
from tests.webhooks.receiver import receiving, verify

QUICK = WebhookSettings(backoff_s=0.2, backoff_max_s=1.0, max_attempts=5, timeout_s=5)


def _until_settled(app: Accessio, settings: WebhookSettings, limit_s: float = 15) -> None:
    """Send what is due, again and again, until nothing is pending."""
    deadline = time.monotonic() + limit_s
    while app.webhooks.deliveries(status="pending"):
        assert time.monotonic() < deadline, "deliveries still pending"
        app.webhooks.deliver(settings=settings)
        time.sleep(0.02)


def test_a_job_end_is_posted_once_and_signed_with_the_documented_scheme(app: Accessio, media: Path) -> None:
    with receiving() as receiver:
        hook, secret = app.webhooks.add(receiver.url(), folder="cars", allow_private_network=True)
        job = register(app, media, "cars/day")
        report = app.webhooks.deliver(settings=QUICK)
        assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
        assert app.webhooks.deliver(settings=QUICK).attempted == 0  # nothing is sent twice
    (request,) = receiver.requests
    (delivery,) = app.webhooks.deliveries(hook.record.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accessio-Event"] == "job.finished"
    assert request.headers["Accessio-Delivery"] == delivery.id
    assert verify(secret, request.headers, request.body)
    assert not verify(secret, request.headers, request.body.replace(b"DONE", b"EROR"))  # the body is covered
    assert not verify("whsec_another", request.headers, request.body)
    body = json.loads(request.body)
    assert (body["id"], body["event"], body["job"]["id"], body["job"]["status"]) == (
        delivery.id, "job.finished", job.id, "DONE")  # fmt: skip


def test_a_failing_receiver_is_retried_with_growing_waits_until_it_answers(app: Accessio, media: Path) -> None:
    with receiving([500, 500, 200]) as receiver:
        hook, secret = app.webhooks.add(receiver.url(), allow_private_network=True)
        register(app, media, "boats")
        first = app.webhooks.deliver(settings=QUICK)
        assert (first.delivered, first.retrying) == (0, 1)
        (waiting,) = app.webhooks.deliveries(hook.record.id)
        assert (waiting.status, waiting.attempts, waiting.last_status_code, waiting.last_error) == (
            "pending", 1, 500, "HTTP 500")  # fmt: skip
        assert app.webhooks.deliver(settings=QUICK).attempted == 0  # not due before its backoff
        _until_settled(app, QUICK)
    assert [r.headers["Accessio-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r.headers["Accessio-Delivery"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1  # the same bytes each time
    assert all(verify(secret, r.headers, r.body) for r in receiver.requests)
    gaps = [later.at - earlier.at for earlier, later in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert gaps[0] >= 0.5 * QUICK.backoff_s  # jitter keeps at least half the wait
    assert gaps[1] >= 0.5 * 2 * QUICK.backoff_s  # and the wait doubles
    (delivery,) = app.webhooks.deliveries(hook.record.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)


def test_a_delivery_fails_for_good_after_the_last_attempt_and_can_be_sent_again(app: Accessio, media: Path) -> None:
    settings = WebhookSettings(backoff_s=0.05, max_attempts=3)
    with receiving([503, 503, 503, 200]) as receiver:
        hook, _ = app.webhooks.add(receiver.url(), allow_private_network=True)
        register(app, media, "boats")
        _until_settled(app, settings)
        assert app.webhooks.deliver(settings=settings).attempted == 0
        assert len(receiver.requests) == 3
        (delivery,) = app.webhooks.deliveries(hook.record.id, status="failed")
        assert (delivery.attempts, delivery.last_error) == (3, "HTTP 503")
        again = app.webhooks.send_again(delivery.id[:8])  # the receiver was fixed
        assert (again.id, again.status, again.attempts) == (delivery.id, "pending", 0)
        assert app.webhooks.deliver(settings=settings).delivered == 1
    assert [r.headers["Accessio-Delivery"] for r in receiver.requests] == [delivery.id] * 4
    assert len({r.body for r in receiver.requests}) == 1
    with pytest.raises(DeliveryNotFailed, match="is delivered: only a failed one is sent again"):
        app.webhooks.send_again(delivery.id)


def test_redirects_are_not_followed(app: Accessio, media: Path) -> None:
    with receiving([302]) as receiver:
        hook, _ = app.webhooks.add(receiver.url(), allow_private_network=True)
        register(app, media, "boats")
        app.webhooks.deliver(settings=QUICK)
    assert [r.path for r in receiver.requests] == ["/hook"]
    (delivery,) = app.webhooks.deliveries(hook.record.id)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert delivery.last_error == "HTTP 302: redirects are not followed"


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(app: Accessio, media: Path) -> None:
    with receiving(delay_s=3) as receiver:
        hook, _ = app.webhooks.add(receiver.url(), allow_private_network=True)
        register(app, media, "boats")
        started = time.monotonic()
        report = app.webhooks.deliver(settings=WebhookSettings(timeout_s=0.3))
        assert time.monotonic() - started < 2.5  # the timeout, not the receiver's 3 s
    assert report.retrying == 1
    (delivery,) = app.webhooks.deliveries(hook.record.id)
    assert (delivery.last_error or "").startswith("no answer in 0.3 s")


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_timeout(app: Accessio, media: Path) -> None:
    with receiving(trickle=True) as receiver:
        hook, _ = app.webhooks.add(receiver.url(), allow_private_network=True)
        register(app, media, "boats")
        started = time.monotonic()
        report = app.webhooks.deliver(settings=WebhookSettings(timeout_s=0.5))
        took = time.monotonic() - started
    assert took < 2.5  # not the 3 s the receiver would hold it: the whole exchange is bounded
    assert (report.retrying, len(receiver.requests)) == (1, 1)
    (delivery,) = app.webhooks.deliveries(hook.record.id)
    assert (delivery.last_error or "").startswith("no answer in 0.5 s")


@pytest.mark.parametrize("attempts", [1, 2, 5, 30])
def test_backoff_doubles_within_its_cap_and_jitter(attempts: int) -> None:
    settings = WebhookSettings(backoff_s=10, backoff_max_s=600)
    full = min(600, 10 * 2 ** (attempts - 1))
    assert backoff_s(attempts, settings, draw=lambda: 0.0) == full / 2
    assert backoff_s(attempts, settings, draw=lambda: 0.999) == pytest.approx(full, rel=0.001)


def test_one_round_sends_each_delivery_once_even_when_it_is_due_again_at_once(app: Accessio, media: Path) -> None:
    no_wait = WebhookSettings(backoff_s=0, max_attempts=5)
    with receiving([500]) as receiver:
        app.webhooks.add(receiver.url(), allow_private_network=True)
        register(app, media, "boats")
        assert app.webhooks.deliver(settings=no_wait).retrying == 1
        assert len(receiver.requests) == 1
        assert app.webhooks.deliver(settings=no_wait).retrying == 1  # the next round sends it again
    assert len(receiver.requests) == 2
