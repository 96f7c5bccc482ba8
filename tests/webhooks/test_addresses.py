"""The integrations' address rules hold for webhooks: at creation, and again at every
delivery (a name that resolves elsewhere later is refused then, and nothing reaches it)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accessio.service import Accessio
from accessio.service.webhook_registry import WebhookInvalid
from tests.webhooks.conftest import register
from tests.webhooks.receiver import receiving


def fake_dns(table: dict[str, list[str]]) -> Callable[..., Any]:
    """``socket.getaddrinfo`` answering from ``table`` (changed by the test as it goes)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host not in table:
            return real(host, port, *args, **kwargs)
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [(family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]

    return getaddrinfo


@pytest.mark.parametrize(
    ("url", "allow_private", "message"),
    [
        ("http://127.0.0.1:9/hook", False, "127.0.0.1 (loopback)"),
        ("http://localhost:9/hook", False, "(loopback)"),
        ("http://[::1]:9/hook", False, "::1 (loopback)"),
        ("http://10.1.2.3/hook", False, "10.1.2.3 (private network)"),
        ("http://[::ffff:192.168.0.1]/hook", False, "::ffff:c0a8:1 (private network)"),
        ("http://169.254.169.254/latest/meta-data/", True, "cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", True, "cloud metadata"),
        ("http://169.254.10.10/hook", True, "link-local"),
        ("http://0.0.0.0:9/hook", True, "unspecified"),
        ("ftp://93.184.216.34/hook", False, "http:// or https://"),
        ("https://user:pw@93.184.216.34/hook", False, "user name or password"),
        ("https:///hook", False, "with a host"),
        ("https://93.184.216.34:99999/hook", False, "cannot be read"),
        ("https://93.184.216.34/a b", False, "whitespace"),
    ],
)
def test_a_refused_address_is_refused_at_creation(app: Accessio, url: str, allow_private: bool, message: str) -> None:
    with pytest.raises(WebhookInvalid, match=re.escape(message)):
        app.webhooks.add(url, allow_private_network=allow_private)
    assert app.webhooks.all() == []


def test_loopback_needs_the_opt_in(app: Accessio) -> None:
    with pytest.raises(WebhookInvalid, match=r"allow it \(--allow-private-network\)"):
        app.webhooks.add("http://127.0.0.1:9/hook")
    view, _ = app.webhooks.add("http://127.0.0.1:9/hook", allow_private_network=True)
    assert view.record.allow_private_network


def test_a_name_that_resolves_to_a_refused_address_later_is_refused_at_delivery(
    app: Accessio, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dns = {"hooks.example.com": ["93.184.216.34"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns(dns))
    with receiving() as receiver:
        hook, _ = app.webhooks.add(f"http://hooks.example.com:{receiver.port}/hook", folder="boats")
        register(app, media, "boats")
        dns["hooks.example.com"] = ["127.0.0.1"]  # the name now points at the receiver on loopback
        report = app.webhooks.deliver()
    assert receiver.requests == []
    assert (report.delivered, report.retrying) == (0, 1)
    (delivery,) = app.webhooks.deliveries(hook.record.id)
    assert delivery.status == "pending"
    assert delivery.last_error == "refused: hooks.example.com resolves to 127.0.0.1 (loopback)"
    assert delivery.last_status_code is None
