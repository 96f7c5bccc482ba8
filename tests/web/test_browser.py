"""The web app in a real browser (Debian's Chromium, headless, driven by Playwright)
against a real ``accessio serve``: what a user does, click by click."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Site, cli, sign_in, wait_until

pytestmark = pytest.mark.slow


def _open_folder(page: Any, site: Site, name: str) -> None:
    page.goto(f"{site.url}/")
    page.get_by_role("link", name=name).first.click()
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text() == name


def test_sign_in_refuses_a_wrong_password_then_signs_in_and_out(browser: Any, site: Site) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Sign in").click()
    assert "Wrong name or password." in page.inner_text("main")
    page.get_by_label("Password").fill("alice's long password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")
    cookie = next(c for c in context.cookies() if c["name"] == "accessio_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login"))
    page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/login")
    context.close()


def test_create_a_folder_import_a_spec_and_follow_it_in_the_bell(browser: Any, site: Site, tmp_path: Path) -> None:
    page = sign_in(browser, site, "alice")
    _open_folder(page, site, "alice-cars")
    page.get_by_role("button", name="New folder").click()
    new_folder = page.locator("#new-folder-dialog")
    new_folder.get_by_label("Name").fill("imports")
    new_folder.get_by_role("button", name="Create").click()
    page.wait_for_selector("h1:text('imports')")
    spec = tmp_path / "more.json"
    images = [{"objectUrl": (site.media / f"photo-{n}.jpg").as_uri(), "title": f"again {n}"} for n in range(3)]
    spec.write_text(json.dumps({"images": images}))
    page.get_by_role("button", name="Upload files").click()
    dialog = page.locator("#upload-dialog")
    assert dialog.get_by_text("Import from cloud data").is_visible()
    dialog.locator('input[type="file"]').set_input_files(str(spec))
    dialog.get_by_role("button", name="Check").click()
    result = dialog.locator("#import-result")
    result.get_by_text("valid").wait_for()
    assert "3 units" in result.inner_text()
    assert "reached 3 of 3 sampled objects" in result.inner_text()
    dialog.get_by_role("button", name="Import").click()
    dialog.wait_for(state="hidden")  # the dialog closes, the bell opens on the new job
    bell = page.locator("#bell-list")
    bell.locator(".job-done", has_text="more.json").wait_for(timeout=30_000)
    assert "3 done, 0 failed" in bell.locator(".job-done", has_text="more.json").inner_text()
    bell.locator(".job-done", has_text="more.json").get_by_role("link", name="Open its items").click()
    page.wait_for_selector(".tile")
    assert sorted(page.locator(".tile-name").all_inner_texts()) == ["again 0", "again 1", "again 2"]


def test_a_job_with_failures_offers_its_failure_csv(browser: Any, site: Site, tmp_path: Path) -> None:
    page = sign_in(browser, site, "alice")
    _open_folder(page, site, "alice-cars")
    spec = tmp_path / "broken.csv"
    present, missing = (site.media / "photo-0.jpg").as_uri(), (site.media / "gone.jpg").as_uri()
    spec.write_text(f"ObjectUrl,Image title\n{present},ok\n{missing},=gone\n")
    page.get_by_role("button", name="Upload files").click()
    dialog = page.locator("#upload-dialog")
    dialog.locator('input[type="file"]').set_input_files(str(spec))
    dialog.get_by_label("Register the valid units even if some fail").check()
    dialog.get_by_role("button", name="Import").click()
    job = page.locator("#bell-list .job", has_text="broken.csv")
    job.get_by_text("1 failed").wait_for(timeout=30_000)
    with page.expect_download() as caught:
        job.get_by_role("link", name="Download failed files (CSV)").click()
    rows = Path(caught.value.path()).read_text().splitlines()
    assert rows[0] == "object_url,title,item_type,error,action"
    assert rows[1].startswith(f"{(site.media / 'gone.jpg').as_uri()},'=gone,image,")
    with page.expect_download() as caught:
        job.get_by_role("link", name="Download retry spec").click()
    assert json.loads(Path(caught.value.path()).read_text())["images"][0]["title"] == "=gone"


def test_sync_a_synced_folder_from_its_page(browser: Any, site: Site) -> None:
    followed = site.media / "followed"
    followed.mkdir(exist_ok=True)
    (followed / "one.jpg").write_bytes((site.media / "photo-0.jpg").read_bytes())
    cli(site.catalog, "folder", "create", "alice-synced", "--owner", "alice", "--sync", f"media:{followed.as_uri()}/")
    page = sign_in(browser, site, "alice")
    _open_folder(page, site, "alice-synced")
    assert "not synced yet" in page.inner_text("main")
    assert page.get_by_role("button", name="Upload files").count() == 0
    page.get_by_role("button", name="Sync now").click()
    page.get_by_role("status").get_by_text("Sync started").wait_for()
    page.locator("#bell summary").click()
    bell = page.locator("#bell-list")
    bell.locator(".job-done", has_text=followed.as_uri()).wait_for(timeout=30_000)
    page.reload()
    assert "last synced" in page.inner_text("main")
    assert page.locator(".tile-name").all_inner_texts() == ["followed/one.jpg"]  # its path in the integration


def test_filter_sort_and_a_filter_error_at_its_column(browser: Any, site: Site) -> None:
    page = sign_in(browser, site, "alice")
    _open_folder(page, site, "alice-cars")
    page.get_by_label("Filter").fill("score >= 1")
    page.get_by_label("Sort").fill("score")
    page.get_by_label("Descending").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*where=score.*"))
    assert page.locator(".tile-name").all_inner_texts() == ["photo 2", "photo 1"]
    page.get_by_label("Filter").fill("score >= ")
    page.get_by_role("button", name="Apply").click()
    error = page.locator("#filter-error")
    assert "column 10" in error.inner_text()
    assert page.get_by_label("Filter").get_attribute("aria-invalid") == "true"


def test_previews_an_image_a_video_that_seeks_and_a_pdf(browser: Any, site: Site) -> None:
    page = sign_in(browser, site, "alice")
    _open_folder(page, site, "alice-cars")
    page.get_by_role("link", name="photo 0").click()
    image = page.locator(".preview img.media")
    image.wait_for()
    wait_until(page, "document.querySelector('.preview img.media').naturalWidth > 0")
    assert image.evaluate("e => [e.naturalWidth, e.naturalHeight]") == [64, 48]

    _open_folder(page, site, "alice-cars")
    statuses: list[int] = []
    page.on("response", lambda got: statuses.append(got.status) if "/files/" in got.url else None)
    page.get_by_role("link", name="clip").first.click()
    video = page.locator("video.media")
    video.wait_for()
    wait_until(page, "document.querySelector('video.media').readyState >= 1")
    assert abs(video.evaluate("v => v.duration") - 3.0) < 0.2
    seek = "v => new Promise(done => { v.addEventListener('seeked', () => done(v.currentTime), {once: true});"
    seeked = video.evaluate(seek + " v.currentTime = 2.0; })")
    assert abs(seeked - 2.0) < 0.1
    assert 206 in statuses  # the player read byte ranges of the signed URL

    _open_folder(page, site, "alice-cars")
    page.get_by_role("link", name="doc").click()
    frame = page.locator("iframe.pdf")
    source = frame.get_attribute("src")
    assert source
    response = page.request.get(source)
    assert (response.status, response.headers["content-type"]) == (200, "application/pdf")


def test_edit_client_metadata_with_an_error_at_the_field(browser: Any, site: Site) -> None:
    page = sign_in(browser, site, "alice")
    _open_folder(page, site, "alice-cars")
    page.get_by_role("link", name="photo 1").click()
    score = page.get_by_label("Value of score")
    score.fill("high")
    page.get_by_role("button", name="Save metadata").click()
    field_error = page.locator(".field-error")
    field_error.wait_for()
    assert "expected number" in field_error.inner_text()
    assert page.get_by_label("Value of score").get_attribute("aria-invalid") == "true"
    page.get_by_label("Value of score").fill("7")
    page.get_by_label("New key").fill("checked")
    page.get_by_label("New value").fill("true")
    page.get_by_role("button", name="Save metadata").click()
    page.get_by_text("Saved.").wait_for()
    assert page.get_by_label("Value of score").input_value() == "7"
    assert page.get_by_label("Value of checked").input_value() == "true"


def test_similar_items_and_the_map(browser: Any, site: Site) -> None:
    page = sign_in(browser, site, "alice")
    _open_folder(page, site, "alice-cars")
    page.get_by_role("link", name="photo 0").click()
    similar = page.locator("section[aria-labelledby='similar-title'] .tile-name")
    similar.first.wait_for()
    assert similar.all_inner_texts()[0] == "photo 1"  # nearest first
    page.goto(f"{site.url}/map?key=clip&colorBy=site")
    page.wait_for_selector("#map circle")
    assert page.locator("#map circle").count() == 3
    assert sorted(page.locator("#map-legend li").all_inner_texts()) == ["Algiers", "Oran"]
    dot = page.locator("#map circle").first
    dot.hover()
    assert page.locator("#map-tip").is_visible()
    dot.click()
    page.wait_for_url(re.compile(r".*/items/.*"))
    assert page.locator("h1").inner_text().startswith("photo")


def test_another_member_sees_none_of_alices_folders(browser: Any, site: Site) -> None:
    alice = sign_in(browser, site, "alice")
    _open_folder(alice, site, "alice-cars")
    alice_folder = alice.url
    alice.get_by_role("link", name="photo 0").click()
    alice_item = alice.url
    bob = sign_in(browser, site, "bob")
    text = bob.inner_text("main")
    assert "bob-private" in text
    assert "alice-cars" not in text
    for url in (alice_folder, alice_item, f"{site.url}/jobs/bell"):
        response = bob.goto(url)
        assert "alice" not in bob.content().replace("alice's", "")
        if url != f"{site.url}/jobs/bell":
            assert response.status == 404
    bob.goto(f"{site.url}/map?key=clip")
    bob.wait_for_selector("#map-status:not(:text('Loading…'))")
    assert bob.locator("#map circle").count() == 0


def test_pages_work_at_360_pixels_wide(browser: Any, site: Site) -> None:
    page = sign_in(browser, site, "alice", width=360)
    _open_folder(page, site, "alice-cars")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    assert page.get_by_role("button", name="Upload files").is_visible()
