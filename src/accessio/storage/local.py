"""Listing a local directory without leaving the integration's root.

obstore's local store follows every symlink while walking, so a link to a directory
outside the root would list (and loop through) the world. This walk does not descend
into linked directories (their targets inside the root are listed under their real
path anyway) and keeps a linked file only when it resolves inside the root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import NamedTuple


class LocalEntry(NamedTuple):
    path: str
    size: int
    modified: datetime


def walk(directory: str, real_root: str) -> Iterator[LocalEntry]:
    """Every regular file under ``directory`` (recursively) whose real path is inside ``real_root``."""
    inside = real_root.rstrip(os.sep) + os.sep
    for parent, dirs, files in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(parent, name)
            if not os.path.realpath(path).startswith(inside):
                continue
            try:
                status = os.stat(path)
            except OSError:
                continue  # vanished, or a dangling link
            if os.path.isfile(path):
                yield LocalEntry(path, status.st_size, datetime.fromtimestamp(status.st_mtime, UTC))


def take(entries: Iterator[LocalEntry], count: int = 1000) -> list[LocalEntry]:
    """The next ``count`` entries (fewer at the end), for handing a walk across threads in chunks."""
    return list(islice(entries, count))
