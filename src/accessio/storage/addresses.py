"""Which network addresses outbound reads may reach, checked where the socket is opened.

Refused always: unspecified, multicast, link-local (``169.254.0.0/16``, ``fe80::/10``),
reserved and documentation ranges, and cloud metadata services (``169.254.169.254``,
``fd00:ec2::254``, ``100.100.100.200``, ``metadata.google.internal``...). Refused unless
the integration opts in with ``allow_private_network``: loopback, RFC 1918 private
networks, shared address space (``100.64.0.0/10``) and unique-local ``fc00::/7``.
IPv4 addresses embedded in IPv6 are judged as the IPv4 address: IPv4-mapped
(``::ffff:0:0/96``), IPv4-translated (``::ffff:0:0:0/96``), IPv4-compatible (``::/96``
but ``::`` and ``::1``), 6to4 (``2002::/16``) and well-known NAT64 (``64:ff9b::/96``).
Local-use NAT64 (``64:ff9b:1::/48``) is a private network; with the opt-in it is still
refused when an IPv4 address it may carry (at any RFC 6052 position) is a metadata or
link-local one. Other IPv6 ranges that are not global (Teredo ``2001::/32`` among them)
are refused as reserved.

:class:`GuardedBackend` is an httpcore network backend: asked to connect to a host, it
resolves the name itself, refuses the connection if *any* resolved address is refused,
and connects to the validated IP. Because httpcore hands the original host name to TLS
(SNI and certificate checks) and to the ``Host`` header, pinning the address costs
nothing in correctness, and there is no window between the check and the connect in
which DNS could change its answer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore

from accessio.storage.errors import AddressNotAllowed, StorageError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_HARD = ("cloud metadata", "link-local")  # refused whatever the integration allows


def _bits(value: int, first: int, end: int) -> int:
    """Bits ``first`` to ``end - 1`` of a 128-bit value, counted from the most significant."""
    return (value >> (128 - end)) & ((1 << (end - first)) - 1)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to the IPv4 network, if it has one: IPv4-mapped
    (``::ffff:a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``), IPv4-compatible
    (``::a.b.c.d``), 6to4 (``2002:AABB:CCDD::``) and NAT64 (``64:ff9b::a.b.c.d``).

    >>> embedded_ipv4(ipaddress.IPv6Address("::7f00:1"))
    IPv4Address('127.0.0.1')
    """
    found = address.ipv4_mapped or address.sixtofour
    if found is not None:
        return found
    if address in _COMPATIBLE and int(address) <= 1:
        return None  # "::" and "::1" are IPv6's own
    if address in _COMPATIBLE or address in _TRANSLATED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def local_nat64_candidates(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address a local-use NAT64 address (``64:ff9b:1::/48``) may carry: where it
    sits depends on the translator's prefix length (RFC 6052: 48, 56, 64 or 96 bits here),
    which only the network's operator knows.

    >>> [str(a) for a in local_nat64_candidates(ipaddress.IPv6Address("64:ff9b:1:7f00:0:100:808:808"))]
    ['127.0.0.1', '0.0.1.0', '0.1.0.8', '8.8.8.8']
    """
    n = int(address)
    return [
        ipaddress.IPv4Address(v)
        for v in (
            _bits(n, 48, 64) << 16 | _bits(n, 72, 88),
            _bits(n, 56, 64) << 24 | _bits(n, 72, 96),
            _bits(n, 72, 104),
            _bits(n, 96, 128),
        )
    ]


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why reads may not reach ``address``, or ``None`` when they may.

    >>> refusal(ipaddress.ip_address("169.254.169.254"), allow_private=True)
    'cloud metadata'
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return refusal(embedded, allow_private=allow_private)
        if address in _LOCAL_NAT64:
            # A translator inside the network: private, and never a way to a metadata or
            # link-local IPv4 address whatever prefix length the translator uses.
            for candidate in local_nat64_candidates(address):
                reason = refusal(candidate, allow_private=True)
                if reason in _HARD:
                    return reason
            return None if allow_private else "private network"
        if address.is_site_local:
            return "site-local"
    checks = (
        (address in _METADATA_ADDRESSES, "cloud metadata"),
        (address.is_unspecified, "unspecified"),
        (address.is_multicast, "multicast"),
        (address.is_link_local, "link-local"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    if address.is_loopback:
        return None if allow_private else "loopback"
    if any(address in network for network in _PRIVATE if network.version == address.version):
        return None if allow_private else "private network"
    return None if address.is_global else "reserved"


@dataclass(frozen=True)
class AddressPolicy:
    """The address rules of one integration.

    ``allowed`` lists exact addresses reachable even when they are loopback or private
    (an allow-list narrower than ``allow_private``); metadata and link-local addresses
    stay refused whatever is listed.
    """

    allow_private: bool = False
    allowed: frozenset[str] = frozenset()

    def check_host_name(self, host: str) -> None:
        """Refuse well-known metadata host names before any lookup."""
        if host.rstrip(".").lower() in _METADATA_HOSTS:
            raise AddressNotAllowed(host, host, "cloud metadata")

    def check(self, host: str, addresses: Iterable[IPAddress]) -> list[IPAddress]:
        """All of ``addresses`` if every one is allowed; else ``AddressNotAllowed`` for the first refused."""
        checked = []
        for address in addresses:
            reason = refusal(address, allow_private=self.allow_private or str(address) in self.allowed)
            if reason is not None:
                raise AddressNotAllowed(host, str(address), reason)
            checked.append(address)
        return checked

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and validate every address it resolves to."""
        self.check_host_name(host)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise StorageError(f"the host {host} cannot be resolved ({exc})") from None
        found: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
        if not found:
            raise StorageError(f"the host {host} resolves to no address")
        return self.check(host, found)


class GuardedBackend(httpcore.NetworkBackend):
    """An httpcore backend that connects only to addresses its policy allows (see the module docstring)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()
        self.connected: list[str] = []  # every address connected to, newest last (bounded)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self._policy.resolve(host, port):
            try:
                stream = self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            self.connected = [*self.connected[-99:], str(address)]
            return stream
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise StorageError("unix sockets are not used for object reads")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
