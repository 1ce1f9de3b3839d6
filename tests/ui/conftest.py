"""A live tsapi server on a free port, a worker when a test needs one, and headless Chromium
with its console log, for end-to-end tests of the web interface."""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

from plots.browser import CHROMIUM_ARGS, find_binaries
from plots.errors import RenderError
from tests.conftest import free_port, skip_or_fail_in_ci
from tests.ui.pages import WINDOW, Page


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def live_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m tsapi serve`` on a free port, against the test Redis; yields its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("ui-server") / "server.log"
    env = {**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tsapi", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"server exited: {log_path.read_text()[-3000:]}"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server not ready: {log_path.read_text()[-3000:]}"
            time.sleep(0.1)
        yield base
    finally:
        _stop(process)


@pytest.fixture
def api(live_server: str) -> Iterator[httpx.Client]:
    """A client of the live server, to set data up and to check what the UI did."""
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


@pytest.fixture
def worker(worker_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A background ``python -m tsapi worker`` for the length of one test."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tsapi", "worker"],
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    _stop(process)


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium (fresh profile, no network beyond localhost) that keeps its console."""
    try:
        chromium, chromedriver = find_binaries()
    except RenderError as exc:
        skip_or_fail_in_ci(f"headless Chromium unavailable: {exc}")
    profile = tempfile.mkdtemp(prefix="tsapi-ui-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, log_output=subprocess.DEVNULL)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        shutil.rmtree(profile, ignore_errors=True)
        skip_or_fail_in_ci(f"headless Chromium did not start: {exc.msg}")
    driver.set_window_size(*WINDOW)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: webdriver.Chrome, live_server: str) -> Iterator[Page]:
    """The browser on the live server; fails the test if the console logged an error."""
    browser.get_log("browser")  # drop what earlier tests left
    yield Page(browser, live_server)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, "errors in the browser console:\n" + "\n".join(e["message"] for e in errors)


# -- data ----------------------------------------------------------------------------------

MINUTE = 60_000
CITIES = {"austin": 24.0, "dallas": 22.0, "boston": 9.0, "seattle": 11.0}


def temperature(city: str, t: int) -> float:
    """A daily cycle with some noise, different per city (the same for the same t)."""
    noise = random.Random(f"{city}{t}").gauss(0, 0.35)
    day = 86_400_000
    cycle = math.sin(2 * math.pi * (t / day + len(city) / 7))
    return round(CITIES[city] + 6 * cycle + 0.8 * math.sin(t / 1_700_000) + noise, 3)


@pytest.fixture
def seeded(api: httpx.Client) -> dict[str, list[list[float]]]:
    """Four temperature series (kind=temp) and two humidity ones, a point a minute for a day."""
    now = int(time.time() * 1000) // MINUTE * MINUTE
    times = [now - i * MINUTE for i in range(24 * 60 - 1, -1, -1)]
    data: dict[str, list[list[float]]] = {}
    for city in CITIES:
        key = f"temp:{city}"
        data[key] = [[t, temperature(city, t)] for t in times]
        labels = {"city": city, "kind": "temp", "unit": "C"}
        api.post("/v1/series", json={"key": key, "labels": labels, "retention": "30d"})
    for city in ("austin", "dallas"):
        key = f"humidity:{city}"
        data[key] = [[t, round(60 - 2 * temperature(city, t) / 3, 2)] for t in times[::5]]
        api.post("/v1/series", json={"key": key, "labels": {"city": city, "kind": "humidity"}})
    for key, points in data.items():
        response = api.post(f"/v1/series/{key}/points", json=points)
        assert response.status_code == 200, response.text
    return data
