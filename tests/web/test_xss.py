"""Cross-site scripting: payloads in every string users write (folder names and
descriptions, titles, client metadata keys and values, object URLs, spec file names,
token labels) rendered on every page, in a real browser. A ``window`` tripwire counts
executions, and each page's DOM is searched for injected scripts and event handlers,
so escaping is checked on its own, not only behind the Content-Security-Policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from accessio.service import Accessio
from tests.api.live import LiveServer, start_server
from tests.web.conftest import PASSWORDS, cli

pytestmark = pytest.mark.slow

_BREAKERS = ["", '">', "'>", "</title>", "</textarea>", "-->", "</script>", "]]>", "`", "\\u003c"]
_VECTORS = [
    "<script>window.__xss+=1</script>",
    "<img src=x onerror=window.__xss+=1>",
    "<svg onload=window.__xss+=1>",
    '<a href="javascript:window.__xss+=1">x</a>',
    "<iframe srcdoc='<script>parent.__xss+=1</script>'>",
    "<body onpageshow=window.__xss+=1>",
]
PAYLOADS = [b + v for b in _BREAKERS for v in _VECTORS] + [
    "{{7*7}}{% raw %}", "${window.__xss+=1}", "javascript:window.__xss+=1", "data:text/html,<script>__xss+=1</script>",
]  # fmt: skip
FOLDER_PAYLOADS = [p for p in PAYLOADS if "/" not in p]  # a folder name holds no '/'


def test_the_corpus_is_large_enough() -> None:
    assert len(PAYLOADS) >= 60
    assert len(FOLDER_PAYLOADS) >= 10


@pytest.fixture(scope="module")
def xss_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    base = tmp_path_factory.mktemp("xss")
    media = base / "media"
    media.mkdir()
    catalog = str(base / "catalog.db")
    cli(catalog, "integration", "add", "media", "--provider", "local", "--root", str(media))
    cli(catalog, "user", "add", "alice", "--admin")
    cli(catalog, "user", "passwd", "alice", stdin=PASSWORDS["alice"] + "\n")
    cli(catalog, "schema", "add-embedding", "clip", "2")
    with Accessio(catalog) as app:  # (names starting with "--" would read as options on a command line)
        for n, payload in enumerate(FOLDER_PAYLOADS[:12]):
            app.create_folder(f"{payload}{n}", PAYLOADS[-n - 1], owner="alice")
    meta = {"mimeType": "image/jpeg", "fileSize": 10, "width": 4, "height": 4}
    images = []
    for n, payload in enumerate(PAYLOADS):
        url = f"{media.as_uri()}/{payload.replace(' ', '_').replace('#', '_').replace('?', '_')}-{n}.jpg"
        images.append(
            {"objectUrl": url, "title": payload[:290], "imageMetadata": meta,
             "clientMetadata": {payload: payload, "clip": [1.0, float(n)], "note": payload}}
        )
    spec = base / f"{FOLDER_PAYLOADS[0].replace(chr(0), '')[:60]}.json"
    spec.write_text(json.dumps({"images": images}))
    target = f"{FOLDER_PAYLOADS[1]}1"
    cli(catalog, "register", str(spec), "--folder", target, "--integration", "media")
    server = start_server(catalog, base / "server.log", "--rate-limit", "0")
    try:
        yield server, target
    finally:
        server.stop()


_INJECTED = """() => {
  const inline = [...document.querySelectorAll('script')].filter(s => !s.src).length;
  const handlers = [...document.querySelectorAll('*')].flatMap(e => [...e.attributes])
    .filter(a => a.name.startsWith('on')).length;
  const links = [...document.querySelectorAll('[href],[src]')]
    .filter(e => /^\\s*(javascript|data):/i.test(e.getAttribute('href') || e.getAttribute('src') || '')).length;
  const frames = document.querySelectorAll('iframe[srcdoc]').length;
  return {inline, handlers, links, frames, fired: window.__xss};
}"""


def _visit(page: Any, url: str, seen: list[dict[str, Any]]) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    found = page.evaluate(_INJECTED)
    seen.append({"url": url, **found})


def test_no_payload_runs_or_lands_in_the_dom_on_any_page(browser: Any, xss_site: tuple[LiveServer, str]) -> None:
    server, target = xss_site
    context = browser.new_context()
    context.add_init_script("window.__xss = 0; window.alert = () => { window.__xss += 1; };")
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORDS["alice"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")
    page.goto(f"{server.url}/tokens")
    for payload in PAYLOADS[:8]:
        page.get_by_label("Label").fill(payload)
        page.get_by_role("button", name="Create token").click()
    seen: list[dict[str, Any]] = []
    _visit(page, f"{server.url}/", seen)
    folders = page.locator(".subfolders a").evaluate_all("links => links.map(a => a.href)")
    assert len(folders) == 12
    for url in folders:
        _visit(page, url, seen)
    _visit(page, f"{server.url}/", seen)
    page.get_by_role("link", name=target, exact=True).first.click()
    folder_url = page.url
    for view in ("grid", "table"):
        _visit(page, f"{folder_url}?view={view}", seen)
    items: list[str] = []
    after = folder_url
    while after:
        page.goto(after)
        items += page.locator(".tile > a").evaluate_all("links => links.map(a => a.href)")
        nxt = page.locator("a[rel=next]")
        after = nxt.get_attribute("href") if nxt.count() else None
        after = f"{server.url}{after}" if after else None
    assert len(items) == len(PAYLOADS)
    for url in items:
        _visit(page, url, seen)
    for url in ("/jobs/bell", "/tokens", "/metadata-schema", "/integrations", "/map?key=clip&colorBy=note"):
        _visit(page, f"{server.url}{url}", seen)
    page.locator("#map circle").first.hover()
    seen.append({"url": "map hover", **page.evaluate(_INJECTED)})
    page.goto(f"{server.url}/")
    page.locator("#bell summary").click()
    page.locator("#bell-list .job a", has_text="Details").first.click()
    _visit(page, page.url, seen)
    bad = [entry for entry in seen if entry["inline"] or entry["handlers"] or entry["links"] or entry["frames"]]
    assert bad == []
    assert [entry["url"] for entry in seen if entry["fired"]] == []
    assert len(seen) >= len(PAYLOADS) + 20
    context.close()


def test_pages_forbid_inline_scripts(xss_site: tuple[LiveServer, str]) -> None:
    import httpx  # noqa: PLC0415

    server, _ = xss_site
    response = httpx.get(f"{server.url}/login")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
