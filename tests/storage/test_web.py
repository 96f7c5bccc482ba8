"""Plain HTTP(S) reads and the SSRF guard: addresses, redirects, resolution, confinement.

The web servers are real (``tests.servers``); "nothing connected" is proven twice: the
target server logs no request, and the guarded backend records no connection to it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accessio.storage import (
    AddressNotAllowed,
    Integration,
    OperationNotSupported,
    Provider,
    Storage,
    StorageError,
    UrlOutsideIntegration,
    open_storage,
)
from accessio.storage.addresses import AddressPolicy, refusal
from accessio.storage.web import WebClient, _next_hop
from tests.servers import WebServer, web_server, web_server_factory  # noqa: F401

DATA = bytes(range(256)) * 300


@pytest.fixture
def site(web_server: WebServer) -> WebServer:  # noqa: F811
    web_server.files["/media/a.bin"] = (DATA, "video/mp4")
    web_server.files["/private/b.bin"] = (b"private", "text/plain")
    return web_server


@pytest.fixture
def opted_in() -> Iterator[Storage]:
    with open_storage(Integration("web", Provider.HTTP, allow_private_network=True)) as storage:
        yield storage


def test_loopback_is_refused_without_the_opt_in(site: WebServer) -> None:
    with open_storage(Integration("web", Provider.HTTP)) as storage:
        with pytest.raises(AddressNotAllowed, match="loopback") as caught:
            asyncio.run(storage.probe_head(site.url("/media/a.bin")))
        assert (caught.value.host, caught.value.address) == ("127.0.0.1", "127.0.0.1")
        with pytest.raises(AddressNotAllowed):
            storage.reader(site.url("/media/a.bin")).read(1)
        assert storage.web.backend.connected == []
    assert site.requests == []


def test_reads_with_the_opt_in(site: WebServer, opted_in: Storage) -> None:
    info, head = asyncio.run(opted_in.probe_head(site.url("/media/a.bin"), 100))
    assert (info.size, info.content_type, head) == (len(DATA), "video/mp4", DATA[:100])
    assert info.etag
    assert site.requests == [("/media/a.bin", "bytes=0-99")]
    assert asyncio.run(opted_in.read_range(site.url("/media/a.bin"), 500, 700)) == DATA[500:700]
    reader = opted_in.reader(site.url("/media/a.bin"), block_size=8192)
    reader.seek(-3, 2)
    assert (reader.read(), reader.requests) == (DATA[-3:], 2)
    assert opted_in.sign(site.url("/media/a.bin")) == site.url("/media/a.bin")
    with pytest.raises(OperationNotSupported):
        opted_in.list(site.url("/media/"))
    with pytest.raises(UrlOutsideIntegration):
        opted_in.locate("s3://bucket/key")


def test_a_server_that_ignores_ranges(site: WebServer, opted_in: Storage) -> None:
    site.honour_ranges = False
    info, head = asyncio.run(opted_in.probe_head(site.url("/media/a.bin"), 10))
    assert (info.size, head) == (len(DATA), DATA[:10])
    assert asyncio.run(opted_in.read_range(site.url("/media/a.bin"), 1000, 1010)) == DATA[1000:1010]


def test_redirect_to_metadata_is_refused_even_with_the_opt_in(site: WebServer, opted_in: Storage) -> None:
    site.redirects["/go"] = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    with pytest.raises(AddressNotAllowed, match="cloud metadata"):
        asyncio.run(opted_in.probe_head(site.url("/go")))
    assert set(opted_in.web.backend.connected) == {"127.0.0.1"}


@pytest.fixture
def trusted_pair(web_server_factory: Callable[[str], WebServer]) -> tuple[WebServer, WebServer, WebClient]:  # noqa: F811
    """A redirecting server on 127.0.0.2 (the only address the client may reach) and a target on 127.0.0.1."""
    front, target = web_server_factory("127.0.0.2"), web_server_factory("127.0.0.1")
    target.files["/f"] = (b"should never be read", "text/plain")
    front.files["/ok"] = (b"fine", "text/plain")
    return front, target, WebClient(AddressPolicy(allowed=frozenset({"127.0.0.2"})))


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1:{port}/f", "loopback"),
        ("http://10.0.0.1/f", "private network"),
        ("http://192.168.1.1/f", "private network"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:127.0.0.1]:{port}/f", "loopback"),
        ("http://2130706433:{port}/f", "loopback"),
        ("http://[::1]:{port}/f", "loopback"),
        ("http://0.0.0.0:{port}/f", "unspecified"),
        ("http://localhost:{port}/f", "loopback"),
    ],
)
def test_redirects_to_refused_addresses_never_connect(
    trusted_pair: tuple[WebServer, WebServer, WebClient], location: str, reason: str
) -> None:
    front, target, client = trusted_pair
    front.redirects["/go"] = location.format(port=target.port)
    try:
        with pytest.raises(AddressNotAllowed, match=reason):
            client.get_range(front.url("/go"), 0, 10)
        assert target.requests == []
        assert set(client.backend.connected) == {"127.0.0.2"}
        front.redirects["/relative"] = "/ok"
        assert client.get_range(front.url("/relative"), 0, 10).data == b"fine"
    finally:
        client.close()


def test_redirects_are_limited(site: WebServer, opted_in: Storage) -> None:
    for hop in range(6):
        site.redirects[f"/r{hop}"] = f"/r{hop + 1}"
    site.files["/r6"] = (b"end", "text/plain")
    with pytest.raises(StorageError, match="more than 5 redirects"):
        asyncio.run(opted_in.probe_head(site.url("/r0")))
    assert asyncio.run(opted_in.probe_head(site.url("/r1")))[1] == b"end"
    with pytest.raises(StorageError, match="down to http"):
        _next_hop("https://cdn.example.com/a", "http://cdn.example.com/a", "https://cdn.example.com/a")


def fake_dns(table: dict[str, list[str]]) -> Callable[..., Any]:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host not in table:
            return real(host, port, *args, **kwargs)
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [(family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]

    return getaddrinfo


def test_host_names_are_refused_after_resolution(site: WebServer, monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"intranet.example.com": ["10.1.2.3"], "mixed.example.com": ["93.184.216.34", "192.168.0.7"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns(table))
    with open_storage(Integration("web", Provider.HTTP)) as storage:
        with pytest.raises(AddressNotAllowed) as caught:
            asyncio.run(storage.probe_head(f"http://localhost:{site.port}/media/a.bin"))
        assert (caught.value.host, caught.value.address) == ("localhost", "127.0.0.1")
        with pytest.raises(AddressNotAllowed, match=r"10\.1\.2\.3"):
            asyncio.run(storage.probe_head("http://intranet.example.com/a.jpg"))
        with pytest.raises(AddressNotAllowed, match=r"192\.168\.0\.7"):
            asyncio.run(storage.probe_head("https://mixed.example.com/a.jpg"))
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("metadata names are not looked up"))
        with pytest.raises(AddressNotAllowed, match="cloud metadata"):
            asyncio.run(storage.probe_head("http://metadata.google.internal/computeMetadata/v1/"))
        assert storage.web.backend.connected == []
    assert site.requests == []


@pytest.mark.parametrize(
    ("address", "default", "opted_in"),
    [
        ("8.8.8.8", None, None),
        ("2606:4700:4700::1111", None, None),
        ("127.0.0.1", "loopback", None),
        ("::1", "loopback", None),
        ("10.0.0.1", "private network", None),
        ("172.16.5.4", "private network", None),
        ("192.168.1.1", "private network", None),
        ("100.64.0.1", "private network", None),
        ("fd12:3456::1", "private network", None),
        ("169.254.169.254", "cloud metadata", "cloud metadata"),
        ("169.254.1.1", "link-local", "link-local"),
        ("fe80::1", "link-local", "link-local"),
        ("fd00:ec2::254", "cloud metadata", "cloud metadata"),
        ("100.100.100.200", "cloud metadata", "cloud metadata"),
        ("0.0.0.0", "unspecified", "unspecified"),
        ("::", "unspecified", "unspecified"),
        ("224.0.0.1", "multicast", "multicast"),
        ("ff02::1", "multicast", "multicast"),
        ("192.0.2.1", "reserved", "reserved"),
        ("240.0.0.1", "reserved", "reserved"),
        ("::ffff:169.254.169.254", "cloud metadata", "cloud metadata"),
        ("::ffff:10.0.0.1", "private network", None),
        ("2002:a00:1::", "private network", None),
        ("64:ff9b::7f00:1", "loopback", None),
        ("64:ff9b::a9fe:a9fe", "cloud metadata", "cloud metadata"),
        ("64:ff9b::a00:1", "private network", None),
        ("64:ff9b::808:808", None, None),
        ("2002:7f00:1::", "loopback", None),
        ("2002:a9fe:a9fe::1", "cloud metadata", "cloud metadata"),
        ("2002:808:808::1", None, None),
        # IPv4-compatible (::a.b.c.d): the IPv4 address, but :: and ::1 stay IPv6's own
        ("::7f00:1", "loopback", None),
        ("::a9fe:a9fe", "cloud metadata", "cloud metadata"),
        ("::a00:1", "private network", None),
        ("::808:808", None, None),
        # IPv4-translated (::ffff:0:a.b.c.d)
        ("::ffff:0:a9fe:a9fe", "cloud metadata", "cloud metadata"),
        ("::ffff:0:7f00:1", "loopback", None),
        ("::ffff:0:808:808", None, None),
        # local-use NAT64 (64:ff9b:1::/48): private; metadata at any RFC 6052 position refused
        ("64:ff9b:1::7f00:1", "private network", None),
        ("64:ff9b:1::808:808", "private network", None),
        ("64:ff9b:1::a9fe:a9fe", "cloud metadata", "cloud metadata"),  # a /96 translator
        ("64:ff9b:1:a9fe:a9:fe00::", "cloud metadata", "cloud metadata"),  # a /48 translator
        ("64:ff9b:1:a9:fe:a9fe::", "cloud metadata", "cloud metadata"),  # a /56 translator
        ("64:ff9b:1:0:a9:fea9:fe00:0", "cloud metadata", "cloud metadata"),  # a /64 translator
        ("64:ff9b:1:a9fe:1:100::", "link-local", "link-local"),  # 169.254.1.1 under /48
        # Teredo: not global
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "reserved", "reserved"),
    ],
)
def test_address_rules(address: str, default: str | None, opted_in: str | None) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, allow_private=False) == default
    assert refusal(ip, allow_private=True) == opted_in


def test_an_http_endpoint_confines_urls(site: WebServer) -> None:
    integration = Integration("cdn", Provider.HTTP, endpoint=site.url("/media"), allow_private_network=True)
    with open_storage(integration) as storage:
        assert asyncio.run(storage.read_range(site.url("/media/a.bin"), 0, 2)) == DATA[:2]
        for outside in [
            site.url("/private/b.bin"),
            site.url("/media/../private/b.bin"),
            site.url("/media/%2e%2e/private/b.bin"),
            site.url("/mediax/b.bin"),
            f"http://127.0.0.1:{site.port + 1}/media/a.bin",
            f"https://127.0.0.1:{site.port}/media/a.bin",
        ]:
            with pytest.raises(UrlOutsideIntegration):
                asyncio.run(storage.probe_head(outside))
    assert all(path == "/media/a.bin" for path, _ in site.requests)


def test_redirects_stay_under_an_http_integrations_base_url(site: WebServer) -> None:
    """A server may redirect inside the base URL; a hop outside it is refused before it is followed."""
    site.redirects["/media/inside"] = "/media/a.bin"
    site.redirects["/media/sibling"] = "/private/b.bin"
    site.redirects["/media/dots"] = "/media/%2e%2e/private/b.bin"
    site.redirects["/media/prefix"] = "/mediax/b.bin"
    site.redirects["/media/port"] = f"http://127.0.0.1:{site.port + 1}/media/a.bin"
    site.redirects["/media/host"] = f"http://localhost:{site.port}/media/a.bin"
    site.redirects["/media/chain"] = "/media/sibling"
    integration = Integration("cdn", Provider.HTTP, endpoint=site.url("/media"), allow_private_network=True)
    with open_storage(integration) as storage:
        assert asyncio.run(storage.read_range(site.url("/media/inside"), 0, 2)) == DATA[:2]
        for hop in ("sibling", "dots", "prefix", "port", "host", "chain"):
            with pytest.raises(UrlOutsideIntegration) as caught:
                asyncio.run(storage.probe_head(site.url(f"/media/{hop}")))
            assert caught.value.integration == "cdn"
            assert "the server redirected" in caught.value.message, caught.value.message
            assert f"/media/{hop}" in caught.value.message
    assert not [path for path, _ in site.requests if not path.startswith("/media/")]
    # without a base URL, an http integration may be redirected anywhere its address rules allow
    with open_storage(Integration("web", Provider.HTTP, allow_private_network=True)) as storage:
        assert asyncio.run(storage.probe_head(site.url("/media/sibling")))[1] == b"private"
