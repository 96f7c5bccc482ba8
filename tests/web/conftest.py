"""A real ``accessio serve`` with media of every kind and two members, and the Chromium
that Debian packages driven by Playwright (``executable_path``: no browser download).

- ``alice`` (member, granted the ``media`` integration) owns the folder ``alice-cars``
  with images (embeddings), a WebM video, a PDF, a text file and a DICOM series;
- ``bob`` (member) owns ``bob-private``; ``root`` is an administrator.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.api.live import LiveServer, start_server
from tests.media.medical import dicom
from tests.media.video import encode
from tests.samples import SAMPLE_SERIES_UID, SAMPLE_STUDY_UID

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORDS = {"alice": "alice's long password", "bob": "bob's long password", "root": "root's long password"}


@dataclass
class Site:
    server: LiveServer
    catalog: str
    media: Path
    base: Path

    @property
    def url(self) -> str:
        return self.server.url


def cli(catalog: str, *args: str, stdin: str | None = None) -> str:
    command = [sys.executable, "-m", "accessio", *args, "--catalog", catalog]
    done = subprocess.run(command, capture_output=True, text=True, input=stdin, check=True)
    return done.stdout.strip()


def write_media(media: Path) -> dict[str, Path]:
    media.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    pictures = [(64, 48, (200, 30, 30)), (32, 32, (30, 200, 30)), (48, 64, (30, 30, 200))]
    for n, (width, height, colour) in enumerate(pictures):
        path = media / f"photo-{n}.jpg"
        Image.new("RGB", (width, height), colour).save(path, "JPEG")
        files[f"photo-{n}"] = path
    files["clip"] = media / "clip.webm"
    encode(files["clip"], "webm", "libvpx", frames=75, rate=Fraction(25), size=(64, 48))
    files["doc"] = media / "doc.pdf"
    Image.new("RGB", (200, 100), (250, 250, 250)).save(files["doc"], "PDF")
    files["notes"] = media / "notes.txt"
    files["notes"].write_text("first line of the notes\nsecond line\n")
    for n in range(2):
        files[f"slice-{n}"] = media / f"slice-{n}.dcm"
        dicom(files[f"slice-{n}"], rows=16, columns=16, frames=1, modality="CT", study_uid=SAMPLE_STUDY_UID,
              series_uid=SAMPLE_SERIES_UID)  # one series, registered as "scan"  # fmt: skip
    return files


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("web")
    media = base / "media"
    files = write_media(media)
    catalog = str(base / "catalog.db")
    cli(catalog, "integration", "add", "media", "--provider", "local", "--root", str(media))
    for name in ("alice", "bob", "root"):
        cli(catalog, "user", "add", name, *(["--admin"] if name == "root" else []))
        cli(catalog, "user", "passwd", name, stdin=PASSWORDS[name] + "\n")
    cli(catalog, "integration", "grant", "media", "alice")
    cli(catalog, "schema", "add-embedding", "clip", "3")
    cli(catalog, "schema", "add-scalar", "score", "number")
    cli(catalog, "schema", "add-enum", "site", "Oran", "Algiers")
    cli(catalog, "folder", "create", "alice-cars", "--owner", "alice")
    cli(catalog, "folder", "create", "bob-private", "--owner", "bob")
    vectors = [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]]
    spec: dict[str, Any] = {
        "images": [
            {"objectUrl": files[f"photo-{n}"].as_uri(), "title": f"photo {n}",
             "clientMetadata": {"clip": vectors[n], "score": n, "site": ("Oran", "Algiers", "Oran")[n]}}
            for n in range(3)
        ],
        "videos": [{"objectUrl": files["clip"].as_uri(), "title": "clip"}],
        "pdf": [{"objectUrl": files["doc"].as_uri(), "title": "doc"}],
        "text": [{"objectUrl": files["notes"].as_uri(), "title": "notes"}],
        "dicom_series": [
            {"title": "scan", "objectUrl_0": files["slice-0"].as_uri(), "objectUrl_1": files["slice-1"].as_uri()}
        ],
    }  # fmt: skip
    spec_file = base / "alice.json"
    spec_file.write_text(json.dumps(spec))
    cli(catalog, "register", str(spec_file), "--folder", "alice-cars", "--integration", "media")
    bob_spec = base / "bob.json"
    bob_spec.write_text(json.dumps({"images": [{"objectUrl": files["photo-1"].as_uri(), "title": "bob secret photo"}]}))
    cli(catalog, "register", str(bob_spec), "--folder", "bob-private", "--integration", "media")
    server = start_server(catalog, base / "server.log", "--rate-limit", "0")
    try:
        yield Site(server, catalog, media, base)
    finally:
        server.stop()


@pytest.fixture(scope="package")  # its event loop ends with tests/web: later tests call asyncio.run
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: scripts/test.sh installs Debian's package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def sign_in(browser: Any, site: Site, name: str, *, width: int = 1280) -> Any:
    """A new browser context signed in as ``name``; its page is on Files."""
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{site.url}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")
    return page


def wait_until(page: Any, expression: str, timeout: float = 20.0) -> Any:
    """Poll a JavaScript expression until it is truthy (``page.wait_for_function`` evaluates
    its predicate with ``eval``, which the pages' Content-Security-Policy forbids)."""
    import time  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(50)
