"""What checking every unit's URL against a local integration's root costs, per URL.

A job checks the URL of every unit, read or not (a unit with supplied metadata is not
read, so this check is all that confines it). URLs as bench/register.py writes them:
1,000 files per directory under the root. Three ways, on the same URLs in the same run:

- baseline: the old shortcut, one verdict per directory string (it let a link out of
  the root through, when the link's directory had been accepted before);
- ``Storage.admission().admit``: the directory's real path kept, one ``lstat`` per file;
- ``Storage.locate``: ``os.path.realpath`` of every URL.

Measured on absent files (as bench/register.py registers them) and on real files.

    .venv/bin/python bench/confine.py [--units 500000] [--present 100000]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from accessio.storage import Integration, Provider, open_storage

_UNUSUAL = re.compile(r"[%?#\\]")


def urls_for(root: str, units: int) -> list[str]:
    return [f"file://{root}/batch-{i // 1000:04d}/image-{i:07d}.jpg" for i in range(units)]


def old_shortcut(check: Callable[[str], object]) -> Callable[[str], object]:
    """The check the runner made before: a directory accepted once accepted every plain name in it."""
    accepted: set[str] = set()

    def refusal(url: str) -> None:
        directory, _, name = url.rpartition("/")
        plain = directory and name not in ("", ".", "..") and _UNUSUAL.search(name) is None
        if plain and directory in accepted:
            return
        check(url)
        if plain:
            accepted.add(directory)

    return refusal


def timed(root: str, urls: list[str], way: str) -> float:
    with open_storage(Integration("bench", Provider.LOCAL, root=root)) as storage:
        ways = {"baseline": old_shortcut(storage.locate), "admit": storage.admission().admit, "locate": storage.locate}
        check = ways[way]
        start = time.perf_counter()
        for url in urls:
            check(url)
        return time.perf_counter() - start


def report(label: str, root: str, urls: list[str]) -> None:
    print(f"{label}: {len(urls):,} URLs in {len(urls) // 1000:,} directories")
    base = timed(root, urls, "baseline")
    for way in ("baseline", "admit", "locate"):
        took = base if way == "baseline" else timed(root, urls, way)
        per = took / len(urls) * 1e6
        print(f"  {way:9} {took:7.3f} s  {per:6.2f} us/URL  {took / base:5.2f}x baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=500_000)
    parser.add_argument("--present", type=int, default=100_000, help="real files for the second measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-confine-") as tmp:
        root = str(Path(tmp).resolve())
        report("absent files", root, urls_for(root, args.units))
        present = urls_for(root, args.present)
        for url in present:
            path = Path(url.removeprefix("file://"))
            path.parent.mkdir(exist_ok=True)
            path.touch()
        report("real files", root, present)


if __name__ == "__main__":
    main()
