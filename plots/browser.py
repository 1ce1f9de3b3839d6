"""Locate and start a local headless Chromium WebDriver (never downloads anything).

Binaries are looked up with :func:`shutil.which`; the environment variables
``TSAPI_CHROMIUM`` and ``TSAPI_CHROMEDRIVER`` override the lookup. Selenium Manager is never
invoked because the driver path is always passed explicitly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Final

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

from .errors import RenderError

__all__ = ["CHROMIUM_ARGS", "Browser", "find_binaries", "start_browser"]

logger = logging.getLogger(__name__)

CHROMIUM_ENV: Final = "TSAPI_CHROMIUM"
CHROMEDRIVER_ENV: Final = "TSAPI_CHROMEDRIVER"
CHROMIUM_NAMES: Final = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER_NAMES: Final = ("chromedriver",)
INSTALL_HINT: Final = "install Debian packages chromium and chromium-driver"

#: Flags that keep Chromium headless, offline and quiet (it hangs on network lookups otherwise).
CHROMIUM_ARGS: Final = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1920,1080",
)


@dataclass(frozen=True)
class Browser:
    """A running WebDriver session plus the temporary profile directory it owns."""

    driver: webdriver.Chrome
    profile_dir: str

    def shutdown(self) -> None:
        """Quit the driver (ignoring errors from an already dead one) and remove the profile."""
        with contextlib.suppress(Exception):
            self.driver.quit()
        shutil.rmtree(self.profile_dir, ignore_errors=True)


def _find(env_var: str, names: tuple[str, ...], what: str) -> str:
    override = os.environ.get(env_var)
    if override:
        path = shutil.which(override)
        if path is None:
            raise RenderError(f"{what} {override!r} from ${env_var} not found; {INSTALL_HINT}")
        return path
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    raise RenderError(f"{what} not found on PATH; {INSTALL_HINT}")


def find_binaries() -> tuple[str, str]:
    """Return ``(chromium_path, chromedriver_path)`` or raise :class:`RenderError`."""
    return (
        _find(CHROMIUM_ENV, CHROMIUM_NAMES, "Chromium"),
        _find(CHROMEDRIVER_ENV, CHROMEDRIVER_NAMES, "chromedriver"),
    )


def start_browser(page_load_timeout: float = 30.0) -> Browser:
    """Start a fresh headless Chromium with a new temporary profile.

    Raises :class:`RenderError` when the binaries are missing or the session cannot start.
    """
    chromium, chromedriver = find_binaries()
    profile_dir = tempfile.mkdtemp(prefix="tsapi-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    service = Service(executable_path=chromedriver, log_output=subprocess.DEVNULL)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except (WebDriverException, OSError) as exc:
        shutil.rmtree(profile_dir, ignore_errors=True)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RenderError(f"cannot start Chromium ({first_line}); {INSTALL_HINT}") from exc
    driver.set_page_load_timeout(page_load_timeout)
    logger.info("started headless Chromium %s (session %s)", chromium, driver.session_id)
    return Browser(driver=driver, profile_dir=profile_dir)
