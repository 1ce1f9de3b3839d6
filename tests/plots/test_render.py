"""Behaviour of HTML export and PNG rendering (PNG tests use a real headless Chromium)."""

from __future__ import annotations

import base64
import gzip
import html
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains

from plots import PlotOptions, PngRenderer, RenderError, SeriesData, build_figure, to_html
from plots.browser import find_binaries
from tests.conftest import skip_or_fail_in_ci

T0 = 1_700_000_000_000
EVIL = "<script>alert(1)</script>"


def _series(key: str, n: int = 50, offset: float = 0.0) -> SeriesData:
    return SeriesData(key, [T0 + i * 1_000 for i in range(n)], [offset + i % 7 for i in range(n)])


def _docs_json(page: str) -> Any:
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert match is not None, "no Bokeh document JSON in page"
    return json.loads(html.unescape(match.group(1)))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def _decode_ndarray(rep: dict[str, Any]) -> np.ndarray[Any, Any]:
    raw = base64.b64decode(rep["array"]["data"])
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return np.frombuffer(raw, dtype=rep["dtype"])


def _renderer_data(page: str) -> dict[str, dict[str, np.ndarray[Any, Any]]]:
    """Series key -> {column -> values}, decoded from the page's embedded document."""
    result = {}
    for obj in _walk(_docs_json(page)):
        if obj.get("name") == "GlyphRenderer" and "attributes" in obj:
            attrs = obj["attributes"]
            entries = attrs["data_source"]["attributes"]["data"]["entries"]
            result[attrs["name"]] = {col: _decode_ndarray(rep) for col, rep in entries}
    return result


# --- HTML -------------------------------------------------------------------------------------


def test_html_embeds_bokehjs_inline_and_loads_nothing_from_the_network() -> None:
    page = to_html(build_figure([_series("a")], PlotOptions()), "plot")
    assert "cdn.bokeh.org" not in page
    assert not re.search(r"<script[^>]+src=", page)
    assert "<link" not in page
    assert "Bokeh.embed" in page or "embed_items" in page


def test_html_contains_the_document_with_each_series_key_and_values() -> None:
    series = [_series("cpu:host1"), _series("cpu:host2", offset=100.5)]
    page = to_html(build_figure(series, PlotOptions()), "plot")
    data = _renderer_data(page)
    assert set(data) == {"cpu:host1", "cpu:host2"}
    for s in series:
        np.testing.assert_array_equal(data[s.key]["t"], np.asarray(s.t, dtype=float))
        np.testing.assert_array_equal(data[s.key]["v"], np.asarray(s.v, dtype=float))


def test_html_escapes_script_in_title_key_and_labels() -> None:
    options = PlotOptions(title=EVIL, x_label=EVIL, y_label=EVIL)
    page = to_html(build_figure([_series(EVIL)], options), EVIL)
    assert EVIL not in page
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    # The text survives intact inside the document, as data.
    assert set(_renderer_data(page)) == {EVIL}
    assert json.dumps(_docs_json(page)).count("alert(1)") >= 4


# --- PNG --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renderer() -> Iterator[PngRenderer]:
    try:
        find_binaries()
    except RenderError as exc:
        skip_or_fail_in_ci(f"headless Chromium unavailable: {exc}")
    with PngRenderer() as shared:
        yield shared


def _png_size_and_colours(png: bytes) -> tuple[tuple[int, int], int]:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None
    return image.size, len(colours)


@pytest.mark.browser
def test_png_has_exactly_the_figure_size_and_shows_something(renderer: PngRenderer) -> None:
    fig = build_figure([_series("a"), _series("b", offset=3)], PlotOptions(width=640, height=300))
    size, n_colours = _png_size_and_colours(renderer.render(fig))
    assert size == (640, 300)
    assert n_colours > 10
    assert fig.toolbar_location == "right"  # hidden only for the screenshot


@pytest.mark.browser
def test_second_render_reuses_the_running_browser(renderer: PngRenderer) -> None:
    fig = build_figure([_series("a")], PlotOptions(width=400, height=200))
    renderer.render(fig)
    driver = renderer._driver
    assert driver is not None
    session = driver.session_id

    started = time.perf_counter()
    png = renderer.render(fig)
    elapsed = time.perf_counter() - started

    assert renderer._driver is driver and driver.session_id == session
    assert elapsed < 5.0
    assert _png_size_and_colours(png)[0] == (400, 200)


@pytest.mark.browser
def test_concurrent_renders_from_threads_share_one_browser(renderer: PngRenderer) -> None:
    figs = [build_figure([_series(f"t{i}")], PlotOptions(width=300, height=150)) for i in range(2)]
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results.append(renderer.render(figs[i]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert [_png_size_and_colours(png)[0] for png in results] == [(300, 150)] * 2


@pytest.mark.browser
def test_hover_tooltip_shows_a_hostile_key_as_text(renderer: PngRenderer, tmp_path: Path) -> None:
    key = "<img src=x onerror=alert(1)>"
    fig = build_figure(
        [SeriesData(key, [T0, T0 + 1_000, T0 + 2_000], [5.0, 5.0, 5.0])],
        PlotOptions(width=400, height=200),
    )
    page = tmp_path / "hover.html"
    page.write_text(to_html(fig, "hover"), encoding="utf-8")
    renderer.render(fig)  # make sure a browser is running
    driver = renderer._driver
    assert driver is not None
    driver.get(page.as_uri())
    find_tooltip = """
        const view = Bokeh.index.roots[0];
        if (view === undefined) return null;
        const {x_scale, y_scale} = view.frame;
        const found = [];
        const walk = (n) => {
            if (n.shadowRoot) walk(n.shadowRoot);
            for (const c of n.children ?? []) walk(c);
            if (n.classList?.contains("bk-tooltip-row-value")) found.push(n.innerHTML);
        };
        walk(document.body);
        const {width, height} = view.el.getBoundingClientRect();
        const sx = x_scale.compute(arguments[0]) - width / 2;
        const sy = y_scale.compute(5.0) - height / 2;
        return [view.el, Math.round(sx), Math.round(sy) + 1, found];
    """
    deadline = time.monotonic() + 10
    cells: list[str] = []
    while time.monotonic() < deadline and not cells:
        state = driver.execute_script(find_tooltip, T0 + 1_000)
        if state is not None:
            root, dx, dy, cells = state
            ActionChains(driver).move_to_element_with_offset(root, dx, dy).perform()
        time.sleep(0.1)
    assert cells, "hover tooltip did not appear"
    assert "&lt;img src=x onerror=alert(1)&gt;" in cells[0]
    assert "<img" not in cells[0]


@pytest.mark.browser
def test_render_recovers_after_the_browser_died(renderer: PngRenderer) -> None:
    fig = build_figure([_series("a")], PlotOptions(width=300, height=150))
    renderer.render(fig)
    dead = renderer._driver
    assert dead is not None
    dead.quit()  # simulate a Chromium crash

    png = renderer.render(fig)

    assert renderer._driver is not None and renderer._driver is not dead
    assert _png_size_and_colours(png)[0] == (300, 150)


def test_missing_chromium_raises_render_error_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TSAPI_CHROMIUM", "/nonexistent/chromium")
    fig = build_figure([_series("a")], PlotOptions())
    with PngRenderer() as renderer, pytest.raises(RenderError, match="chromium-driver"):
        renderer.render(fig)


def test_closed_renderer_refuses_to_render_and_never_started_a_browser() -> None:
    with PngRenderer() as renderer:
        pass
    assert renderer._driver is None
    with pytest.raises(RenderError, match="closed"):
        renderer.render(build_figure([], PlotOptions()))


def test_several_figures_can_be_exported_in_one_process() -> None:
    pages = [to_html(build_figure([_series("a")], PlotOptions()), f"p{i}") for i in range(2)]
    assert all(set(_renderer_data(page)) == {"a"} for page in pages)
