"""Screenshots of the main pages. They land in a temporary folder; with
``ACCESSIO_SCREENSHOTS=docs/images`` they refresh the ones the README shows:

    ACCESSIO_SCREENSHOTS=docs/images .venv/bin/pytest tests/web/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.web.conftest import Site, sign_in, wait_until

pytestmark = pytest.mark.slow


def test_screenshots_of_the_main_pages(browser: Any, site: Site, tmp_path: Path) -> None:
    target = Path(os.environ.get("ACCESSIO_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page = sign_in(browser, site, "alice")
    shots: dict[str, Path] = {}

    def shot(name: str) -> None:
        shots[name] = target / f"{name}.png"
        page.screenshot(path=str(shots[name]))

    page.get_by_role("link", name="alice-cars", exact=True).first.click()
    wait_until(page, "[...document.querySelectorAll('.tile img')].every(i => i.complete)")
    shot("folder-grid")
    page.get_by_role("button", name="Upload files").click()
    shot("upload-dialog")
    page.locator("#upload-dialog").get_by_role("button", name="Close").click()
    page.locator("#bell summary").click()
    page.locator("#bell-list .job").first.wait_for()
    shot("bell")
    page.get_by_role("link", name="photo 0").first.click()
    wait_until(page, "document.querySelector('.preview img.media').naturalWidth > 0")
    shot("item")
    page.goto(f"{site.url}/map?key=clip&colorBy=site")
    page.wait_for_selector("#map circle")
    shot("map")
    narrow = sign_in(browser, site, "alice", width=360)
    narrow.get_by_role("link", name="alice-cars", exact=True).first.click()
    narrow.screenshot(path=str(target / "folder-phone.png"))
    shots["folder-phone"] = target / "folder-phone.png"
    for name, path in shots.items():
        with Image.open(path) as picture:
            assert picture.format == "PNG", name
            assert picture.width >= 360, name
