"""How long the ``accessio`` command takes to start, against Typer + Rich alone.

Times, in fresh processes and in one run: the baseline (a Python process that imports
Typer and Rich and nothing else), ``accessio --help``, ``accessio --version`` and a plain
``accessio items ls`` on a catalog with 100 items (a catalog already migrated, so the
figure is the one a user sees on every call after the first). Each figure is the median
of ``--runs`` runs, after one warm-up run of each.

    .venv/bin/python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ACCESSIO = [sys.executable, "-m", "accessio"]


def median_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    subprocess.run(command, env=env, check=True, capture_output=True)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def catalog_with_items(directory: Path, env: dict[str, str]) -> None:
    media = directory / "media"
    media.mkdir()
    spec = directory / "spec.csv"
    lines = ["ObjectUrl,Image title"]
    for n in range(100):
        path = media / f"{n:03}.jpg"
        Image.new("RGB", (16 + n, 12), (n, 80, 160)).save(path, "JPEG")
        lines.append(path.as_uri() + ",")
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in (
        ["integration", "add", "media", "--provider", "local", "--root", str(media)],
        ["folder", "create", "shots"],
        ["register", str(spec), "--folder", "shots", "--integration", "media"],
    ):
        subprocess.run([*ACCESSIO, *command], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ACCESSIO_CATALOG": str(Path(tmp) / "catalog.db")}
        catalog_with_items(Path(tmp), env)
        baseline = median_seconds([sys.executable, "-c", "import typer, rich.console"], args.runs, env)
        commands = {
            "accessio --help": ["--help"],
            "accessio --version": ["--version"],
            "accessio items ls --folder shots (100 items)": ["items", "ls", "--folder", "shots"],
        }
        rows = [(name, median_seconds([*ACCESSIO, *given], args.runs, env)) for name, given in commands.items()]
    print(f"median of {args.runs} runs, each a fresh process (python {sys.version.split()[0]})")
    shown = 'baseline: python -c "import typer, rich.console"'
    print(f"{shown:<52} {baseline * 1000:7.0f} ms")
    for name, seconds in rows:
        print(f"{name:<52} {seconds * 1000:7.0f} ms  {seconds / baseline:5.2f}x baseline")


if __name__ == "__main__":
    main()
