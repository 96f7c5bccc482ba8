"""Image sequence benchmark: frames/s encoding a sequence into its video, against ffmpeg.

    .venv/bin/python bench/sequence.py [--frames 1000] [--width 1280 --height 720] [--rounds 2] [--bounded 10000]

Makes ``--frames`` distinct JPEG frames (moving shapes over gradients, light grain),
starts moto's S3 server in its own process on 127.0.0.1 and uploads them; then
registers them as one image sequence with ``accessio register`` (a process of its
own: its wall time and peak memory are measured) through an s3Compatible integration
with a write prefix: every frame is read from the server, decoded, encoded, and the
video uploaded back and probed. The baseline, in the same run, is Debian's ``ffmpeg``
encoding the same frames from local disk with the same encoder and settings
(``libx264 -preset medium -crf 23 -pix_fmt yuv420p -movflags +faststart``). The two
run ``--rounds`` times each, interleaved (each round writes its own video); the best
of each is compared.

``--bounded N`` also encodes N small frames (320x180, local disk) and ``N / 10``
of them, and prints both peak memories: the difference is what the length of a
sequence costs.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accessio.jobs.encode import CRF, PRESET
from accessio.service import Accessio

BUCKET = "frames"


class Scene:
    """Frames of a moving scene: drifting gradients, two moving boxes, light grain; JPEGs (quality 90)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.base = np.stack([x / width * 200, y / height * 180 + 30, (x + y) / (width + height) * 120 + 60], axis=-1)
        rng = np.random.default_rng(7)
        self.grain = [rng.normal(0, 3, self.base.shape).astype(np.float32) for _ in range(8)]

    def frame(self, n: int) -> bytes:
        picture = self.base.copy()
        picture[..., 0] = (picture[..., 0] + n) % 256
        side = self.height // 5
        for speed, colour in ((7, (240, 40, 40)), (-5, (30, 220, 90))):
            left = (n * speed) % (self.width - side)
            top = (n * abs(speed) // 2) % (self.height - side)
            picture[top : top + side, left : left + side] = colour
        picture += self.grain[n % len(self.grain)]
        out = io.BytesIO()
        Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
        return out.getvalue()


def make_frames(directory: Path, count: int, width: int, height: int) -> list[Path]:
    directory.mkdir(parents=True)
    scene = Scene(width, height)
    paths = []
    for n in range(count):
        path = directory / f"{n:05d}.jpg"
        path.write_bytes(scene.frame(n))
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto server did not start")


def upload(endpoint: str, paths: list[Path]) -> list[str]:
    import boto3  # noqa: PLC0415 - a test extra

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench")  # fmt: skip
    client.create_bucket(Bucket=BUCKET)

    def put(path: Path) -> str:
        client.put_object(Bucket=BUCKET, Key=f"walk/{path.name}", Body=path.read_bytes(), ContentType="image/jpeg")
        return f"{endpoint}/{BUCKET}/walk/{path.name}"

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(put, paths))


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command to its end: wall seconds and peak resident memory (MB)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


def register(tmp: Path, name: str, urls: list[str], integration: list[str], fps: float) -> tuple[float, float, dict]:
    """Register ``urls`` as one image sequence with ``accessio register``: seconds, peak MB, the item."""
    catalog = str(tmp / f"{name}.db")
    spec = tmp / f"{name}.json"
    group = {"title": name, "createVideo": True, **{f"objectUrl_{n}": url for n, url in enumerate(urls)}}
    spec.write_bytes(msgspec.json.encode({"image_groups": [group]}))
    env = {**os.environ, "ACCESSIO_CATALOG": catalog, "TMPDIR": str(tmp)}
    accessio = [sys.executable, "-m", "accessio"]
    subprocess.run([*accessio, "integration", "add", "media", *integration], env=env, check=True, capture_output=True)
    command = [*accessio, "register", str(spec), "--folder", "f", "--integration", "media", "--sequence-fps", str(fps),
               "--create-folder"]  # fmt: skip
    seconds, peak = measured(command, env)
    with Accessio(catalog) as app:
        (item,) = app.items("f")
    return seconds, peak, item


def ffmpeg(directory: Path, output: Path, fps: float) -> tuple[float, float]:
    return measured([
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-framerate", str(fps), "-i", str(directory / "%05d.jpg"),
        "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p", "-movflags", "+faststart",
        str(output),
    ])  # fmt: skip


def bounded(tmp: Path, count: int) -> None:
    """Peak memory for ``count`` and ``count // 10`` small frames from local disk."""
    paths = make_frames(tmp / "small", count, 320, 180)
    urls = [path.as_uri() for path in paths]
    local = ["--provider", "local", "--root", str(tmp), "--write-prefix", str(tmp / "videos")]
    for n in (count // 10, count):
        seconds, peak, item = register(tmp, f"small{n}", urls[:n], local, 25.0)
        print(f"{n:6,} frames of 320x180 (local disk): {n / seconds:6.0f} frames/s, peak {peak:5.0f} MB, "
              f"video {item['frameCount']:,} frames", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--rounds", type=int, default=2, help="each side this many times, interleaved")
    parser.add_argument("--bounded", type=int, default=0, help="also measure memory for this many small frames")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
    with tempfile.TemporaryDirectory(prefix="accessio-bench-") as temp:
        tmp = Path(temp)
        started = time.perf_counter()
        paths = make_frames(tmp / "frames", args.frames, args.width, args.height)
        size = sum(path.stat().st_size for path in paths)
        print(f"{args.frames:,} JPEG frames of {args.width}x{args.height}, {size / 1e6:.0f} MB, made in "
              f"{time.perf_counter() - started:.0f} s; {os.cpu_count()} cores", flush=True)  # fmt: skip
        moto, endpoint = start_moto()
        ours: list[tuple[float, float]] = []
        base: list[tuple[float, float]] = []
        try:
            urls = upload(endpoint, paths)
            os.environ.update(BENCH_ACCESS_KEY_ID="bench", BENCH_SECRET_ACCESS_KEY="bench")
            for round_ in range(args.rounds):  # interleaved: a neighbour's load hits both alike
                prefix = f"{endpoint}/{BUCKET}/videos{round_}"
                integration = ["--provider", "s3Compatible", "--endpoint", endpoint, "--credentials", "env:BENCH",
                               "--allow-private-network", "--write-prefix", prefix]  # fmt: skip
                seconds, peak, item = register(tmp, f"ours{round_}", urls, integration, args.fps)
                ours.append((seconds, peak))
                print(f"round {round_ + 1}: accessio register (frames from moto S3, video written back) "
                      f"{args.frames / seconds:5.1f} frames/s, peak {peak:4.0f} MB; video {item['width']}x"
                      f"{item['height']}, {item['frameCount']:,} frames, {item['fileSize'] / 1e6:.1f} MB",
                      flush=True)  # fmt: skip
                seconds, peak = ffmpeg(tmp / "frames", tmp / "ffmpeg.mp4", args.fps)
                base.append((seconds, peak))
                print(f"round {round_ + 1}: ffmpeg CLI (frames from local disk)                          "
                      f"{args.frames / seconds:5.1f} frames/s, peak {peak:4.0f} MB; "
                      f"video {(tmp / 'ffmpeg.mp4').stat().st_size / 1e6:.1f} MB", flush=True)  # fmt: skip
        finally:
            moto.terminate()
            moto.wait(10)
        ours_rate = args.frames / min(s for s, _ in ours)
        base_rate = args.frames / min(s for s, _ in base)
        print(f"best of {args.rounds}: accessio {ours_rate:.1f} frames/s (peak {max(m for _, m in ours):.0f} MB), "
              f"ffmpeg {base_rate:.1f} frames/s (peak {max(m for _, m in base):.0f} MB)")  # fmt: skip
        print(f"accessio / ffmpeg: {ours_rate / base_rate:.2f}x (target >= 0.8x)")
        if args.bounded:
            bounded(tmp, args.bounded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
