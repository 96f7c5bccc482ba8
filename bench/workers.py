"""Registration on Celery workers: objects/s with 1, 2 and 4 workers, against one worker.

20,000 JPEG objects without supplied metadata (each is read: one ranged GET) on moto's
S3 server (a process of its own) behind a proxy that adds 20 ms to every request, as a
real bucket's network does. PostgreSQL from pgserver, Redis from Debian's redis-server.
Each run registers the objects into a fresh catalog database with N ``accessio worker``
processes (``--concurrency 1`` each, as N machines would run them); the ratio is to one
worker in the same run. The in-process executor (``accessio register``) on the same
objects is shown beside them.

The broker's overhead per chunk: a job of one object per chunk on one worker, against
the same job worked in process with one object per chunk (same reads, same writes):
the difference per chunk is what a chunk costs on the workers (a message through
Redis, its claim, its end and the next chunk's send in the catalog).

    .venv/bin/python bench/workers.py [--objects 20000] [--workers 1,2,4] [--chunk-objects 300] [--skip-in-process]
        [--store moto|nginx]

``--store nginx`` serves the objects with Debian's nginx (``apt-get install nginx-light``)
instead of moto: reads only, at a small fraction of moto's CPU per request, so that the
S3 server's CPU does not bound the rate on a machine of few cores.

It prints the CPU time per object of the workers and of the S3 server: on a machine
whose cores are busy, both bound the rate whatever the number of workers.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers: Redis, the latency proxy, worker processes
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="accessio-run-"))

import pgserver  # noqa: E402
from tests.cluster_servers import LatencyProxy, RedisServer, Workers  # noqa: E402

from accessio.catalog import chunks as chunk_store  # noqa: E402
from accessio.cluster.broker import ChunkSender  # noqa: E402
from accessio.cluster.handoff import hand_to_workers, holder_for  # noqa: E402
from accessio.jobs.runner import run_job  # noqa: E402
from accessio.service import Accessio  # noqa: E402
from accessio.spec import Image, UploadSpec  # noqa: E402

KEYS = {"BENCH_ACCESS_KEY_ID": "testing", "BENCH_SECRET_ACCESS_KEY": "testing"}


def noise_jpeg(width: int, height: int) -> bytes:
    from PIL import Image as Picture  # noqa: PLC0415

    out = io.BytesIO()
    Picture.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "JPEG", quality=90)
    return out.getvalue()


def start_moto(count: int) -> tuple[subprocess.Popen[bytes], int]:
    import boto3  # noqa: PLC0415 - test extras: moto's server and a client to fill it

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            client.create_bucket(Bucket="media")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    body = noise_jpeg(96, 72)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: client.put_object(Bucket="media", Key=f"objects/{n:05d}.jpg", Body=body,
                                                  ContentType="image/jpeg"), range(count)))  # fmt: skip
    print(f"objects: {count:,} JPEGs of {len(body):,} bytes (96 x 72 noise) on moto")
    return server, port


NGINX_CONF = """daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-tmp;
  proxy_temp_path {tmp}/nginx-tmp;
  fastcgi_temp_path {tmp}/nginx-tmp;
  uwsgi_temp_path {tmp}/nginx-tmp;
  scgi_temp_path {tmp}/nginx-tmp;
  server {{
    listen 127.0.0.1:{port};
    root {tmp}/objects;
    location / {{ default_type image/jpeg; }}
  }}
}}
"""


def start_nginx(count: int, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Debian's nginx serving the objects as files at their path-style S3 URLs: an S3
    GET with a Range is a plain ranged GET (the signature is not checked), answered with
    the size, ETag and Content-Range obstore reads. It serves reads only, which is all this
    bench asks, at a small fraction of moto's CPU per request."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    folder = tmp / "objects" / "media" / "objects"
    folder.mkdir(parents=True)
    (tmp / "nginx-tmp").mkdir()
    body = noise_jpeg(96, 72)
    for n in range(count):
        (folder / f"{n:05d}.jpg").write_bytes(body)
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port), encoding="utf-8")
    server = subprocess.Popen(["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as attempt:
            if attempt.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError(f"nginx did not start: {(tmp / 'nginx-error.log').read_text(errors='replace')}")
        time.sleep(0.05)
    print(f"objects: {count:,} JPEGs of {len(body):,} bytes (96 x 72 noise) served by nginx")
    return server, port


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(*, pid: int | None = None, group: int | None = None) -> float:
    """CPU time (user + system) of a process, or of every live process of a process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (pid is not None and int(entry.name) != pid):
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if group is None or int(fields[2]) == group:  # fields[2]: the process group
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


class Bench:
    def __init__(self, pg: Any, redis: RedisServer, proxy: LatencyProxy, logs: Path, moto: int) -> None:
        self.pg, self.redis, self.proxy, self.logs, self.moto = pg, redis, proxy, logs, moto
        self.databases = 0
        self.cpu: dict[str, float] = {}  # the last run's CPU seconds: workers, S3 server

    def fresh_catalog(self) -> str:
        self.databases += 1
        name = f"bench_workers_{self.databases}"
        self.pg.psql(f"CREATE DATABASE {name};")
        uri = str(self.pg.get_uri(name))
        with Accessio(uri) as app:
            app.add_integration("s3", "s3Compatible", endpoint=self.proxy.endpoint, credentials="env:BENCH",
                                allow_private_network=True)  # fmt: skip
            app.create_folder("bench")
        return uri

    def spec(self, count: int) -> UploadSpec:
        return UploadSpec(images=[Image(object_url=f"{self.proxy.endpoint}/media/objects/{n:05d}.jpg")
                                  for n in range(count)])  # fmt: skip

    def on_workers(self, count: int, workers: int, chunk_reads: int | None = None) -> tuple[float, dict[str, int]]:
        """Seconds from hand-off to the job's end, with ``workers`` worker processes up."""
        catalog = self.fresh_catalog()
        group = Workers(
            catalog, self.redis.url, self.logs, env={**KEYS, "ACCESSIO_WORKER_BEAT_S": "10", "ACCESSIO_RESEND_S": "600"}
        )  # the defaults
        try:
            for n in range(workers):
                group.start(f"bench{n}")
            with Accessio(catalog) as app:
                deadline = time.monotonic() + 120
                while True:
                    with app.engine.connect() as conn:
                        if len(chunk_store.worker_list(conn)) >= workers:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError("the workers did not start")
                    time.sleep(0.1)
                job = app.start_registration(self.spec(count), folder="bench", integration="s3",
                                             lease_holder=holder_for("accessio"))  # fmt: skip
                sender = ChunkSender(self.redis.url)
                pids = [process.pid for process in group.processes.values()]
                cpu = sum(cpu_seconds(group=pid) for pid in pids)
                moto_cpu = cpu_seconds(group=self.moto)
                began = time.perf_counter()
                options = {} if chunk_reads is None else {"chunk_reads": chunk_reads}
                hand_to_workers(app, job.id, sender, units=job.units(), **options)
                while job.status not in ("DONE", "ERROR", "CANCELLED"):
                    time.sleep(0.05)
                wall = time.perf_counter() - began
                self.cpu = {"workers": sum(cpu_seconds(group=pid) for pid in pids) - cpu,
                            "s3": cpu_seconds(group=self.moto) - moto_cpu}  # fmt: skip
                sender.close()
                return wall, job.counts()
        finally:
            group.stop_all()

    def in_process(self, count: int, chunk_reads: int | None = None) -> tuple[float, dict[str, int]]:
        catalog = self.fresh_catalog()
        with Accessio(catalog) as app:
            job = app.start_registration(self.spec(count), folder="bench", integration="s3")
            began = time.perf_counter()
            if chunk_reads is None:
                job.run()
            else:
                storage = app.storage("s3")
                run_job(app.engine, job.id, storage, "readAll", chunk_reads=chunk_reads, units=job.units())
            return time.perf_counter() - began, job.counts()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--chunk-objects", type=int, default=300, help="chunks of the overhead measure")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument(
        "--store",
        choices=("moto", "nginx"),
        default="moto",
        help="the S3 server: moto (the tests'), or Debian's nginx serving the objects (reads only)",
    )
    args = parser.parse_args()
    counts_of_workers = [int(part) for part in args.workers.split(",")]
    os.environ.update(KEYS)
    with tempfile.TemporaryDirectory(prefix="accessio-bench-workers-") as tmp_name:
        tmp = Path(tmp_name)
        pg = pgserver.get_server(str(tmp / "pg"), cleanup_mode="delete")
        redis = RedisServer(tmp)
        redis.start()
        moto, port = start_moto(args.objects) if args.store == "moto" else start_nginx(args.objects, tmp)
        proxy = LatencyProxy(port, delay_s=0.02).start()
        bench = Bench(pg, redis, proxy, tmp, moto.pid)
        try:
            print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            if not args.skip_in_process:
                wall, counts = bench.in_process(args.objects)
                print(f"in process (accessio register, no workers): {args.objects / wall:,.0f} objects/s "
                      f"({wall:.1f} s, {counts['created']:,} created)")  # fmt: skip
            base = 0.0
            for workers in counts_of_workers:
                wall, counts = bench.on_workers(args.objects, workers)
                rate = args.objects / wall
                base = base or rate
                assert counts["created"] == args.objects, counts
                per = {part: seconds / args.objects * 1000 for part, seconds in bench.cpu.items()}
                print(f"{workers} worker(s): {rate:,.0f} objects/s ({wall:.1f} s), {rate / base:.2f}x one worker; "
                      f"CPU per object: workers {per['workers']:.2f} ms, S3 server {per['s3']:.2f} ms")  # fmt: skip
            n = args.chunk_objects
            local, _ = bench.in_process(n, chunk_reads=1)
            remote, counts = bench.on_workers(n, 1, chunk_reads=1)
            assert counts["created"] == n, counts
            print(f"chunks of one object: in process {local / n * 1000:.1f} ms/chunk, on a worker "
                  f"{remote / n * 1000:.1f} ms/chunk: the broker's overhead "
                  f"{(remote - local) / n * 1000:.1f} ms/chunk")  # fmt: skip
        finally:
            proxy.stop()
            moto.terminate()
            moto.wait()
            redis.stop()
            pg.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
