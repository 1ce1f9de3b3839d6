"""The web interface as the browser tests see it: a page object and where screenshots go.

Screenshots go to ``test-artifacts/ui/``; with ``TSAPI_UPDATE_SCREENSHOTS=1`` the ones the
README shows are also copied to ``docs/screenshots/``.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
DOC_SHOTS = ROOT / "docs" / "screenshots"
#: Screenshots the README shows (artifact name -> docs name).
README_SHOTS = {"explorer": "explorer", "job-finished": "job", "series-list": "series"}
WINDOW = (1440, 900)


@dataclass
class Page:
    """The web interface in the browser, with the few moves the tests need."""

    driver: webdriver.Chrome
    base: str

    def open(self, route: str, theme: str = "light", api_key: str | None = None) -> None:
        """Load the page afresh at ``route`` (``#/series`` ...) with a theme and API key."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.base}/favicon.ico")  # this origin, without the app running
        self.driver.execute_script(
            "localStorage.clear(); localStorage.setItem('tsapi.theme', arguments[0]);"
            "if (arguments[1]) localStorage.setItem('tsapi.apiKey', arguments[1]);",
            theme,
            api_key,
        )
        self.driver.get("about:blank")
        self.driver.get(f"{self.base}/{route}")

    def wait(self, condition: Callable[[], Any], within: float = 15, what: str = "") -> Any:
        """Poll ``condition`` until it returns something truthy."""
        return WebDriverWait(self.driver, within, poll_frequency=0.05).until(
            lambda _: condition(), message=what or getattr(condition, "__name__", "")
        )

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def element(self, css: str, within: float = 15) -> WebElement:
        """The element matching ``css``, once it exists and is displayed."""
        return self.wait(
            lambda: next((e for e in self.all(css) if e.is_displayed()), None), within, css
        )

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def screenshot(self, name: str, element: WebElement | None = None) -> Image.Image:
        """Save the page (or one element) to test-artifacts/ui/<name>.png and return it."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.js("document.getElementById('toasts').replaceChildren()")
        png = element.screenshot_as_png if element else self.driver.get_screenshot_as_png()
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(png)
        if name in README_SHOTS and os.environ.get("TSAPI_UPDATE_SCREENSHOTS") == "1":
            DOC_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_SHOTS / f"{README_SHOTS[name]}.png")
        return Image.open(io.BytesIO(png)).convert("RGB")
