"""How long the ``accessio`` command takes to start, against Typer + Rich alone.

Times, in fresh processes and in one run: the baseline (a Python process that imports
Typer and Rich and nothing else), ``accessio --help``, ``accessio --version`` and a plain
``accessio items ls`` on a catalog with 100 items (a catalog already migrated, so the
figure is the one a user sees on every call after the first). The commands take turns
within each round, so a machine whose load drifts slows them alike; each figure is the
median of ``--runs`` rounds, after one warm-up round. The last line is the ``items ls``
figure against its target (under 0.5 s of wall clock). Accessio's modules (and the
compared installation's) are compiled to bytecode first, as an installed package's are.

``--compare PYTHON`` times the same commands with another installation's interpreter
in the same rounds (``/work/main/.venv/bin/python``: the code before a change); a
command that installation does not have is left out.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--compare OTHER/.venv/bin/python]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

COMMANDS = {
    "accessio --help": ["--help"],
    "accessio --version": ["--version"],
    "accessio items ls --folder shots (100 items)": ["items", "ls", "--folder", "shots"],
}

# Like an installed package (pip compiles on install), Accessio runs from bytecode even
# where PYTHONDONTWRITEBYTECODE keeps imports from writing it.
COMPILE = "import compileall, pathlib, accessio as a; compileall.compile_dir(pathlib.Path(a.__file__).parent, quiet=1)"
LISTING_TARGET_S = 0.5  # issue 12: a plain `items ls` under 0.5 s


def seconds(command: list[str], env: dict[str, str]) -> tuple[float, float] | None:
    """Wall time and CPU time (user + system) of one run; ``None`` when the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=False, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (wall, cpu) if done.returncode == 0 else None


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
        subprocess.run([sys.executable, "-m", "accessio", *command], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", help="another installation's python, timed in the same rounds")
    args = parser.parse_args()
    for python in [sys.executable, *([args.compare] if args.compare else [])]:
        subprocess.run([python, "-c", COMPILE], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ACCESSIO_CATALOG": str(Path(tmp) / "catalog.db")}
        catalog_with_items(Path(tmp), env)
        timed: dict[str, list[str]] = {"baseline": [sys.executable, "-c", "import typer, rich.console"]}
        for name, given in COMMANDS.items():
            timed[name] = [sys.executable, "-m", "accessio", *given]
            if args.compare:
                timed[f"{name} [compared]"] = [args.compare, "-m", "accessio", *given]
        found: dict[str, list[tuple[float, float]]] = {name: [] for name in timed}
        for round_ in range(args.runs + 1):
            for name, command in timed.items():
                took = seconds(command, env)
                if took is not None and round_:  # round 0 warms the page cache
                    found[name].append(took)

    def median(name: str, part: int) -> float:
        return statistics.median(t[part] for t in found[name])

    print(f"median of {args.runs} rounds, each command a fresh process (python {sys.version.split()[0]});")
    print("wall time, and CPU time (user + system: what a loaded machine changes least)")
    print(f"{'':<56} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}")
    for name, times in found.items():
        if not times:
            continue
        wall, cpu = median(name, 0), median(name, 1)
        shown = 'baseline: python -c "import typer, rich.console"' if name == "baseline" else name
        ratios = (wall / median("baseline", 0), cpu / median("baseline", 1))
        print(f"{shown:<56} {wall * 1000:6.0f}ms {ratios[0]:5.2f}x {cpu * 1000:6.0f}ms {ratios[1]:5.2f}x")
    listing = "accessio items ls --folder shots (100 items)"
    if found[listing]:
        wall, cpu = median(listing, 0), median(listing, 1)
        met = "met" if wall < LISTING_TARGET_S else "NOT met"
        print(f"items ls: median {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU "
              f"(target: under {LISTING_TARGET_S * 1000:.0f} ms wall: {met})")  # fmt: skip
    if args.compare:
        for name in COMMANDS:
            compared = f"{name} [compared]"
            if found[name] and found[compared]:
                faster = median(compared, 1) / median(name, 1)
                print(f"{name}: {faster:.1f}x less CPU than the compared installation")


if __name__ == "__main__":
    main()
