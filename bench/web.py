"""The web app over HTTP on 127.0.0.1, on a folder of 1,000,000 items (SQLite catalog).

1. A folder page of 100 items (grid), first page and pages at random depths: p50 and
   p95 of the answer's time, at concurrency 1. Target: p95 < 100 ms.
2. The thumbnail of a 12 MP JPEG: the first request (decoded, resized, cached) and the
   next ones (from the disk cache). Targets: < 300 ms and < 5 ms.
3. The browser (Debian's Chromium, headless) from navigation to a usable folder page
   (``DOMContentLoaded`` with the scripts run) and to its ``load`` (every thumbnail).

    .venv/bin/python bench/web.py [--items 1000000] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import pct, spec_bytes  # noqa: E402
from tests.api.live import start_server  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

from accessio.search.listing import query_items  # noqa: E402
from accessio.service import Accessio  # noqa: E402
from accessio.spec import parse_json  # noqa: E402

PASSWORD = "bench password, long enough"


def cursors(app: Accessio, folder_id: str, total: int, depths: int) -> list[str]:
    found, cursor = [], None
    with app.engine.connect() as conn:
        for _ in range(depths):
            cursor = query_items(conn, folder_id, limit=max(1, total // depths), after=cursor).next_cursor
            if cursor is None:
                break
            found.append(cursor)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="accessio-bench-web-"))
    media = work / "media"
    media.mkdir()
    catalog = str(work / "catalog.db")
    env = {**os.environ, "ACCESSIO_CATALOG": catalog}

    def cli(*command: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [sys.executable, "-m", "accessio", *command], env=env, check=True, capture_output=True, text=True,
            input=stdin,
        ).stdout.strip()  # fmt: skip

    cli("integration", "add", "media", "--provider", "local", "--root", str(media))
    cli("user", "add", "bench", "--admin")
    cli("user", "passwd", "bench", stdin=PASSWORD + "\n")
    app = Accessio(catalog)
    app.create_folder("big")
    started = time.perf_counter()
    made = 0
    while made < args.items:
        batch = min(500_000, args.items - made)
        spec = parse_json(spec_bytes(batch, str(media), f"big{made}"))
        app.start_registration(spec, folder="big", integration="media").run()
        made += batch
    big = app.folder("big")
    print(f"setup: {made:,} items in {time.perf_counter() - started:.0f} s", flush=True)
    photo = media / "photo-12mp.jpg"
    Image.new("RGB", (4000, 3000), (90, 140, 200)).save(photo, "JPEG", quality=90)
    spec_file = work / "photo.json"
    spec_file.write_text(json.dumps({"images": [{"objectUrl": photo.as_uri(), "title": "12 MP"}]}))
    cli("register", str(spec_file), "--folder", "photo", "--integration", "media", "--create-folder")
    photo_id = app.items("photo")[0]["uuid"]
    depths = cursors(app, big.id, made, 50)

    server = start_server(catalog, work / "server.log", "--rate-limit", "0")
    try:
        client = httpx.Client(base_url=server.url, timeout=60)
        client.post("/login", data={"name": "bench", "password": PASSWORD, "next": "/"})
        assert "accessio_session" in client.cookies
        base = f"/folders/{big.id}"
        for _ in range(5):  # warm up
            client.get(base)
        first, deep = [], []
        for n in range(args.requests):
            path = base if n % 2 == 0 else f"{base}?after={random.choice(depths)}"
            began = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - began
            assert response.status_code == 200, response.status_code
            assert response.text.count('class="tile"') == 100
            (first if n % 2 == 0 else deep).append(elapsed)
        both = first + deep
        print(
            f"folder page of 100 items, {made:,}-item folder: p50 {pct(both, 0.5):.1f} ms, "
            f"p95 {pct(both, 0.95):.1f} ms"
            f" (first page p50 {pct(first, 0.5):.1f} ms; deep pages p50 {pct(deep, 0.5):.1f} ms, "
            f"p95 {pct(deep, 0.95):.1f} ms)",
            flush=True,
        )

        began = time.perf_counter()
        response = client.get(f"/thumbs/{photo_id}")
        cold = time.perf_counter() - began
        assert response.headers["content-type"] == "image/webp", response.headers
        warm = []
        for _ in range(50):
            began = time.perf_counter()
            client.get(f"/thumbs/{photo_id}")
            warm.append(time.perf_counter() - began)
        print(
            f"thumbnail of a 12 MP JPEG: first {cold * 1000:.0f} ms, cached p50 {pct(warm, 0.5):.1f} ms "
            f"(HTTP round trips on loopback)",
            flush=True,
        )

        from playwright.sync_api import sync_playwright  # noqa: PLC0415

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            context = browser.new_context()
            context.add_cookies([{"name": "accessio_session", "value": client.cookies["accessio_session"],
                                  "url": server.url}])  # fmt: skip
            page = context.new_page()
            page.goto(f"{server.url}{base}")  # warm up
            usable, loaded = [], []
            for _ in range(10):
                page.goto(f"{server.url}{base}")
                timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
                entry = json.loads(timing)
                usable.append(entry["domContentLoadedEventEnd"] / 1000)
                loaded.append(entry["loadEventEnd"] / 1000)
            browser.close()
        print(
            f"browser, folder page: usable (DOMContentLoaded) p50 {statistics.median(usable) * 1000:.0f} ms, "
            f"loaded with its 100 thumbnails p50 {statistics.median(loaded) * 1000:.0f} ms",
            flush=True,
        )
        client.close()
    finally:
        server.stop()
    app.close()


if __name__ == "__main__":
    main()
