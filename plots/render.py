"""Rendering of Bokeh figures to standalone HTML and to PNG (via headless Chromium)."""

from __future__ import annotations

import io
import logging
import threading
import weakref
from typing import Final

from bokeh.embed import file_html
from bokeh.io.export import get_screenshot_as_png
from bokeh.models import Plot
from bokeh.resources import INLINE
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from urllib3.exceptions import HTTPError

from .browser import Browser, start_browser
from .errors import RenderError

__all__ = ["PngRenderer", "to_html"]

logger = logging.getLogger(__name__)

#: Errors that mean "the browser/driver is broken": restart it once and retry.
#: (bokeh raises RuntimeError when BokehJS did not load in time.)
_DRIVER_ERRORS: Final = (WebDriverException, OSError, HTTPError, RuntimeError)


def to_html(fig: Plot, title: str) -> str:
    """Return a standalone HTML document for ``fig`` with BokehJS inlined (works offline).

    ``title`` is HTML-escaped into ``<title>`` by Bokeh's page template (it must therefore be
    passed raw, not pre-escaped). Document JSON is HTML-escaped by Bokeh too.
    """
    return file_html(fig, resources=INLINE, title=title)


class PngRenderer:
    """Render figures to PNG with one long-lived headless Chromium.

    The browser is started lazily on the first :meth:`render`, reused by later calls, and
    restarted once if it has died. Calls are serialised by a lock, so one instance can be
    shared between threads. Use :meth:`close` (or a ``with`` block) to stop the browser.
    """

    def __init__(self, timeout: int = 10) -> None:
        """``timeout``: seconds to wait for BokehJS to load and finish rendering."""
        self._timeout = timeout
        self._lock = threading.Lock()
        self._browser: Browser | None = None
        self._finalizer: weakref.finalize[[], PngRenderer] | None = None
        self._closed = False

    @property
    def _driver(self) -> webdriver.Chrome | None:
        """The current WebDriver, or None before the first render / after close."""
        return None if self._browser is None else self._browser.driver

    def __enter__(self) -> PngRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser. Further :meth:`render` calls raise :class:`RenderError`."""
        with self._lock:
            self._closed = True
            self._stop_browser()

    def render(self, fig: Plot) -> bytes:
        """Return PNG bytes of ``fig`` at exactly ``fig.width`` x ``fig.height`` pixels.

        The toolbar is hidden for the screenshot and restored afterwards.
        Raises :class:`RenderError` if Chromium is missing or rendering fails twice.
        """
        size = _expected_size(fig)
        with self._lock:
            if self._closed:
                raise RenderError("PngRenderer is closed")
            previous_toolbar = fig.toolbar_location
            fig.toolbar_location = None
            try:
                image = self._screenshot_with_retry(fig)
            finally:
                fig.toolbar_location = previous_toolbar
        return _encode_png(image, size)

    def _screenshot_with_retry(self, fig: Plot) -> Image.Image:
        for attempt in (1, 2):
            browser = self._ensure_browser()
            try:
                return get_screenshot_as_png(fig, driver=browser.driver, timeout=self._timeout)
            except _DRIVER_ERRORS as exc:
                self._stop_browser()
                if attempt == 2:
                    msg = f"PNG rendering failed after a browser restart: {exc}"
                    raise RenderError(msg) from exc
                logger.warning("PNG rendering failed (%s); restarting the browser", exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_browser(self) -> Browser:
        if self._browser is None:
            browser = start_browser()
            self._browser = browser
            self._finalizer = weakref.finalize(self, browser.shutdown)
        return self._browser

    def _stop_browser(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # runs Browser.shutdown once
        self._browser = None
        self._finalizer = None


def _expected_size(fig: Plot) -> tuple[int, int]:
    width, height = fig.width, fig.height
    if width is None or height is None:
        raise RenderError("PNG rendering needs a figure with a fixed width and height")
    return int(width), int(height)


def _encode_png(image: Image.Image, size: tuple[int, int]) -> bytes:
    if image.size != size:
        # Should not happen for fixed-size figures; keep the contract (exact size) anyway.
        logger.warning("screenshot is %s, expected %s; adjusting", image.size, size)
        canvas = Image.new("RGB", size, "white")
        canvas.paste(image.convert("RGB"), (0, 0))
        image = canvas
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
