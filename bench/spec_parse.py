"""Spec parse + validate at the documented maximum size, against a bare decode.

Generates a JSON spec of 500,000 units with 1,000,000 object URLs (250,000 images
with imageMetadata and small clientMetadata, 250,000 image groups of 3 images), then
times ``accessio.spec.parse_json`` (parse + validate, the public API) against the
baseline of the same run: a bare ``msgspec.json.decode`` of the same bytes into
plain objects. Peak memory is measured in a fresh child process. A second spec with
10,000 bad items checks that every issue is reported, with its location, quickly.

    .venv/bin/python bench/spec_parse.py [--units 500000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from accessio.errors import SpecInvalid
from accessio.spec import Limits, parse_json
from accessio.spec.jsonscan import ACCELERATED

BUCKET = "https://my-bucket.s3.eu-west-2.amazonaws.com"


def generate(units: int, errors: int = 0) -> bytes:
    """Half images with metadata, half 3-image groups: ``units`` units, 2 x ``units`` URLs."""
    rnd = random.Random(7)
    images: list[dict[str, Any]] = []
    for i in range(units // 2):
        images.append(
            {
                "objectUrl": f"{BUCKET}/datasets/cars/batch-{i // 1000:04d}/image-{i:07d}.jpg",
                "title": f"image-{i:07d}.jpg",
                "imageMetadata": {
                    "mimeType": "image/jpeg",
                    "fileSize": rnd.randrange(10_000, 5_000_000),
                    "width": 1920,
                    "height": 1080,
                },
                "clientMetadata": {"site": rnd.choice(["Algiers", "Oran", "Annaba"]), "frames": rnd.randrange(1000)},
            }
        )
    groups: list[dict[str, Any]] = []
    for g in range(units - units // 2):
        group: dict[str, Any] = {f"objectUrl_{k}": f"{BUCKET}/groups/g-{g:07d}/frame-{k:03d}.png" for k in range(3)}
        group["title"] = f"group-{g:07d}"
        groups.append(group)
    for n in range(errors):  # spread over the whole file, two kinds
        index = (n * 7919) % len(images)
        if n % 2:
            images[index]["objectUrl"] = images[index]["objectUrl"].replace("image-", "image ")
        else:
            images[index]["imageMetadata"]["width"] = 0
    return msgspec.json.encode({"images": images, "image_groups": groups, "skip_duplicate_urls": True})


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        del result
        gc.collect()
    return times


def bare_decode_gc_paused(data: bytes) -> object:
    gc.disable()
    try:
        return msgspec.json.decode(data)
    finally:
        gc.enable()


def child_peak_rss(path: Path) -> float:
    """Peak resident memory (MiB) of a fresh process that reads and parses the spec."""
    code = (
        "import resource, sys; from accessio.spec import load_spec; "
        "spec = load_spec(sys.argv[1]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--errors", type=int, default=10_000)
    args = parser.parse_args()

    data = generate(args.units)
    spec = parse_json(data)
    print(f"spec: {len(data) / 1e6:.1f} MB, {spec.unit_count():,} units, {spec.url_count():,} object URLs")
    print(f"C key scanner: {'yes' if ACCELERATED else 'no (pure-Python fallback)'}")
    del spec

    baseline = timed(lambda: msgspec.json.decode(data), args.repeat)
    baseline_paused = timed(lambda: bare_decode_gc_paused(data), args.repeat)
    ours = timed(lambda: parse_json(data), args.repeat)
    b, bp, o = statistics.median(baseline), statistics.median(baseline_paused), statistics.median(ours)
    print(f"baseline, bare msgspec.json.decode:            median {b:.3f} s  best {min(baseline):.3f} s")
    print(f"baseline, bare decode with GC paused:          median {bp:.3f} s  best {min(baseline_paused):.3f} s")
    print(f"accessio parse_json (parse + validate):        median {o:.3f} s  best {min(ours):.3f} s")
    print(f"ratio to bare decode:            {o / b:.2f}x  (target <= 1.5x)")
    print(f"ratio to bare decode, GC paused: {o / bp:.2f}x")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.json"
        path.write_bytes(data)
        peak = child_peak_rss(path)
    print(f"peak memory of a process that loads the spec: {peak:,.0f} MiB (target < 1,536 MiB)")

    bad = generate(args.units, errors=args.errors)
    start = time.perf_counter()
    try:
        parse_json(bad, limits=Limits(max_issues=max(args.errors, 1)))  # all kept (the default keeps 1,000)
        reported = 0
    except SpecInvalid as exc:
        reported = len(exc.issues)
        locations = len({i.location for i in exc.issues})
    elapsed = time.perf_counter() - start
    print(
        f"spec with {args.errors:,} bad items: {reported:,} issues reported at {locations:,} distinct locations "
        f"in {elapsed:.2f} s (target: all, < 3 s)"
    )
    ok = o / b <= 1.5 and peak < 1536 and reported == args.errors and elapsed < 3
    print("RESULT:", "within targets" if ok else "OUTSIDE targets")
    _ = resource  # measured in the child
    return 0


if __name__ == "__main__":
    sys.exit(main())
