"""Thumbnail benchmark: the first and the cached thumbnail of a 12 MP JPEG, and a video's poster.

    .venv/bin/python bench/thumbnails.py [--runs 9] [--s3]

Registers a 4000 x 3000 JPEG of noise (quality 90, about 5 MB: a phone photo's size)
and a 5 s 1280 x 720 H.264 video on a local integration (and, with ``--s3``, the JPEG on
moto's S3 server started in its own process on 127.0.0.1), then times
``Thumbnails.thumbnail``: each first run on a fresh cache directory (nothing cached,
nothing remembered), the cached runs on a warm one. Prints the median and the worst
of each, in milliseconds. Targets: first < 300 ms, cached < 5 ms.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import sqlalchemy as sa
from PIL import Image
from tests.media.video import encode

from accessio.catalog.schema import items
from accessio.service import Accessio
from accessio.service.thumbnails import Thumbnails
from accessio.spec import Image as ImageUnit
from accessio.spec import UploadSpec, Video


def photo(path: Path) -> None:
    rng = np.random.default_rng(1)
    gradient = np.linspace(0, 200, 4000, dtype=np.float32)[None, :, None]
    pixels = (gradient + rng.integers(0, 56, (3000, 4000, 3), dtype=np.uint8)).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def rows(app: Accessio, spec: UploadSpec, integration: str) -> list[Any]:
    job = app.register(spec, folder="bench", integration=integration)
    with app.engine.connect() as conn:
        return list(conn.execute(sa.select(items).where(items.c.job_id == job.id).order_by(items.c.name)))


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def measure(label: str, app: Accessio, row: Any, work: Path, runs: int) -> None:
    first = []
    for n in range(runs):
        thumbnails = Thumbnails(work / f"{label}-{n}")
        first.append(timed(lambda t=thumbnails: t.thumbnail(app, row)))
    cached = [timed(lambda: thumbnails.thumbnail(app, row)) for _ in range(max(runs, 200))]
    print(
        f"{label:<28} first {statistics.median(first):7.1f} ms (worst {max(first):6.1f})"
        f"   cached {statistics.median(cached):6.2f} ms (worst {max(cached):5.2f})"
    )


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto's S3 server did not start")


def bench_s3(app: Accessio, media: Path, work: Path, runs: int) -> None:
    import os  # noqa: PLC0415

    import boto3  # noqa: PLC0415  (a test extra)

    server, endpoint = start_moto()
    try:
        os.environ["BENCH_ACCESS_KEY_ID"], os.environ["BENCH_SECRET_ACCESS_KEY"] = "bench", "bench"
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )  # fmt: skip
        client.create_bucket(Bucket="bench")
        client.put_object(Bucket="bench", Key="photo.jpg", Body=(media / "photo.jpg").read_bytes())
        app.add_integration(
            "s3", "s3Compatible", endpoint=endpoint, credentials="env:BENCH", allow_private_network=True
        )
        (row,) = rows(app, UploadSpec(images=[ImageUnit(object_url=f"{endpoint}/bench/photo.jpg")]), "s3")
        measure("12 MP JPEG, S3 (moto)", app, row, work, runs)
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="first runs, each on a fresh cache")
    parser.add_argument("--s3", action="store_true", help="also read the JPEG from moto's S3 server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="accessio-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        media.mkdir()
        photo(media / "photo.jpg")
        encode(media / "clip.mp4", "mp4", "libx264", frames=125, rate=Fraction(25), size=(1280, 720))
        sizes = [(media / name).stat().st_size / 1e6 for name in ("photo.jpg", "clip.mp4")]
        print("JPEG {:.1f} MB, video {:.1f} MB".format(*sizes))
        with Accessio(str(work / "catalog.db")) as app:
            app.add_integration("local", "local", root=str(media))
            app.create_folder("bench")
            spec = UploadSpec(
                images=[ImageUnit(object_url=(media / "photo.jpg").as_uri())],
                videos=[Video(object_url=(media / "clip.mp4").as_uri())],
            )
            by_type = {row.item_type: row for row in rows(app, spec, "local")}
            measure("12 MP JPEG, local", app, by_type["image"], work, args.runs)
            measure("720p H.264 poster, local", app, by_type["video"], work, args.runs)
            if args.s3:
                bench_s3(app, media, work, args.runs)


if __name__ == "__main__":
    main()
