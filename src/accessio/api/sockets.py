"""One listening socket per server process, so that connections spread over them.

uvicorn's worker processes share the one socket their parent listens on, and the event
loop of the process that wakes first accepts every pending connection at once: 16
keep-alive connections opened together all landed on one process in 3 of 8 tries
(counted with ``ss -tnp``), and one core answered for two (docs/benchmarks.md, the
server). With ``SO_REUSEPORT`` every process listens on a socket of its own bound to
the same address, and the kernel spreads new connections over them by their
addresses.

The parent binds the address (so that port 0 is resolved once, and a taken port fails
at once) but never listens on it, so the kernel gives it no connection; a worker
process that unpickles that socket opens its own listening one on the same address.
"""

from __future__ import annotations

import socket
from typing import Any


def _listening(family: int, address: tuple[str, int], backlog: int) -> socket.socket:
    """A worker process's own listening socket on ``address`` (run where it is unpickled)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class SharedAddress(socket.socket):
    """The parent's bound, never listening socket: pickled into a worker process (as
    uvicorn's supervisor does), it becomes that process's own listening socket."""

    backlog = 2048

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (_listening, (int(self.family), (host, port), self.backlog))


def shared_address(host: str, port: int, backlog: int) -> SharedAddress | None:
    """The address every worker process listens on, bound; ``None`` where the platform
    has no ``SO_REUSEPORT`` (then the workers share one socket, as uvicorn does)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = SharedAddress(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host or "0.0.0.0", port))
    except OSError:
        sock.close()
        raise
    sock.backlog = backlog
    return sock
