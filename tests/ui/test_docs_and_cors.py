"""In Chromium: the API documentation at /docs works offline, and a page of another origin can
call the API once TSAPI_CORS_ORIGINS lets it (and cannot before)."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver

from tests.conftest import free_port, stop_process
from tests.ui.pages import Page

pytestmark = pytest.mark.browser

CALLER = """<!doctype html>
<html><head><meta charset="utf-8"><title>caller</title></head>
<body><pre id="out">running</pre>
<script>
const api = new URLSearchParams(location.search).get("api");
const out = document.getElementById("out");
(async () => {
  try {
    const made = await fetch(api + "/v1/series", {
      method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer none"},
      body: JSON.stringify({key: "cors:page", labels: {from: "page"}}),
    });
    const listed = await fetch(api + "/v1/series?filter=from%3Dpage");
    const body = await listed.json();
    out.textContent = "ok " + made.status + " " + made.headers.get("Location") + " "
      + body.series.map((s) => s.key).join(",");
  } catch (err) {
    out.textContent = "blocked " + err.name;
  }
})();
</script></body></html>
"""


def test_docs_render_every_operation_from_the_server_alone(page: Page) -> None:
    document = httpx.get(f"{page.base}/openapi.json").json()
    operations = sum(len(ops) for ops in document["paths"].values())
    page.driver.get(f"{page.base}/docs")
    page.wait(
        lambda: len(page.all(".opblock")) == operations,
        within=30,
        what=f"{operations} operations in Swagger UI",
    )
    assert "tsapi" in page.find(".info .title").text
    loaded = page.js("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded, "the page loaded its script and style"
    assert all(url.startswith(page.base) for url in loaded), loaded  # nothing from elsewhere


@pytest.fixture
def caller_origin(tmp_path: Path) -> Iterator[str]:
    """A static page server: another origin (another port) than the API's."""
    (tmp_path / "caller.html").write_text(CALLER)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _serve(redis_url: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tsapi", "serve", "--port", str(port)],
        env={**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.1)


def _outcome(browser: webdriver.Chrome, caller: str, api: str) -> str:
    browser.get(f"{caller}/caller.html?api={api}")
    page = Page(browser, caller)
    return str(
        page.wait(
            lambda: (t := page.find("#out").text) != "running" and t,
            within=15,
            what="the page's calls",
        )
    )


def test_a_page_of_another_origin_calls_the_api_only_when_its_origin_is_allowed(
    browser: webdriver.Chrome, caller_origin: str, redis_url: str
) -> None:
    closed, closed_base = _serve(redis_url)
    allowed, allowed_base = _serve(redis_url, TSAPI_CORS_ORIGINS=caller_origin)
    try:
        assert _outcome(browser, caller_origin, closed_base) == "blocked TypeError"
        assert httpx.get(f"{closed_base}/v1/series/cors:page").status_code == 404
        assert _outcome(browser, caller_origin, allowed_base) == (
            "ok 201 /v1/series/cors:page cors:page"  # Location read: exposed to the page
        )
    finally:
        browser.get_log("browser")  # the blocked calls are logged as errors, on purpose
        stop_process(closed)
        stop_process(allowed)
