"""The web interface end to end: a live server with real Redis (and a worker), in Chromium."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.keys import Keys

from tests.ui.pages import ROOT, Page

pytestmark = pytest.mark.browser

_PLOT_JS = (ROOT / "api/static/plot.js").read_text()
PALETTE = re.findall(r'"(#[0-9a-f]{6})"', _PLOT_JS[_PLOT_JS.index("PALETTE = [") :].split("]")[0])


def _rows(page: Page) -> list[str]:
    """Keys of the listed series (read in one go: the list is rebuilt as the search changes)."""
    rows = "document.querySelectorAll('#series-rows tr[data-key]')"
    return list(page.js(f"return [...{rows}].map(r => r.dataset.key)"))


def _pixels_near(image: Image.Image, colour: str, tolerance: float = 28) -> int:
    """How many pixels of ``image`` are within ``tolerance`` of ``colour`` (#rrggbb)."""
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    pixels = np.asarray(image, dtype=float)
    return int((np.linalg.norm(pixels - target, axis=2) < tolerance).sum())


def test_series_browser_lists_series_with_stats_and_filters_by_label(
    page: Page, seeded: dict[str, list[list[float]]]
) -> None:
    page.open("#/series")
    page.wait(lambda: len(_rows(page)) == 6, what="six series listed")
    austin = '#series-rows tr[data-key="temp:austin"] td'
    page.wait(lambda: page.all(austin)[3].text == "1,440", what="point count of temp:austin")
    cells = [c.text for c in page.all(austin)]
    latest = seeded["temp:austin"][-1][1]
    assert cells[6] == f"{latest:,.3f}".rstrip("0").rstrip(".")
    assert cells[7] == "30d"
    chips = page.all('#series-rows tr[data-key="temp:austin"] .chip')
    assert [c.get_attribute("textContent") for c in chips] == ["city=austin", "kind=temp", "unit=C"]
    page.wait(lambda: "…" not in page.find("#series-rows").text, what="every row filled in")
    page.screenshot("series-list")

    page.find("#series-search").send_keys("city=austin")
    page.wait(lambda: _rows(page) == ["humidity:austin", "temp:austin"], what="filtered rows")
    assert page.find("#series-count").text == "2 series"
    assert page.driver.current_url.endswith("#/series?q=city%3Daustin")


def test_explorer_draws_one_line_per_series_and_zoom_fetches_finer_buckets(
    page: Page, seeded: dict[str, list[list[float]]]
) -> None:
    page.open("#/series?q=kind=temp", theme="dark")
    page.wait(lambda: len(_rows(page)) == 4, what="four temperature series")
    page.element("#plot-matching").click()
    plot = page.element('#explorer-plot[data-state="ready"]')
    page.wait(lambda: page.js("return Bokeh.index && Object.keys(Bokeh.index).length"), what="view")
    lines = page.js(
        "const fig = Bokeh.documents.at(-1).roots()[0];"
        "return fig.renderers.filter(r => r.glyph.type === 'Line')"
        "  .map(r => [r.name, r.data_source.data.x.length]);"
    )
    assert sorted(name for name, _ in lines) == sorted(k for k in seeded if k.startswith("temp:"))
    assert all(n > 100 for _, n in lines)

    # What Chromium drew: a line in each of the first four palette colours, none in the fifth.
    page.screenshot("explorer")
    image = page.screenshot("explorer-plot", plot)
    drawn = image.crop((0, 50, image.width, image.height))
    assert all(_pixels_near(drawn, colour) > 300 for colour in PALETTE[:4]), PALETTE[:4]
    assert _pixels_near(drawn, PALETTE[4]) < 30

    before = {k: int(plot.get_attribute(f"data-{k}") or 0) for k in ("bucket-ms", "fetches")}
    canvas_centre = ScrollOrigin.from_element(plot, 0, 20)
    ActionChains(page.driver).scroll_from_origin(canvas_centre, 0, -600).perform()
    page.wait(
        lambda: int(plot.get_attribute("data-fetches") or 0) > before["fetches"],
        what="a fetch after zooming in",
    )
    assert int(plot.get_attribute("data-bucket-ms") or 0) < before["bucket-ms"]
    assert plot.get_attribute("data-state") == "ready"
    page.screenshot("explorer-zoomed")


def test_plot_job_from_the_form_reaches_finished_and_shows_its_png(
    page: Page,
    api: httpx.Client,
    seeded: dict[str, list[list[float]]],
    worker: subprocess.Popen[bytes],
) -> None:
    page.open("#/jobs?type=plot")
    page.element('#job-types button.on[data-type="plot"]')
    page.element("[data-field=filter] input").send_keys("kind=temp")
    page.element("[data-field=from] input").send_keys("-12h")
    page.element("[data-field=title] input").send_keys("Temperatures, last 12 hours")
    page.find("#submit-job").click()

    page.wait(lambda: "#/jobs/" in page.driver.current_url, what="the job's page")
    job_id = page.driver.current_url.rsplit("/", 1)[1]
    page.element("#job-status [data-status=finished]", within=60)
    png = page.element("#job-png")
    page.wait(lambda: page.js("return arguments[0].complete && arguments[0].naturalWidth", png))
    assert png.get_attribute("naturalWidth") == "900"
    frame = page.find("#job-plot-frame")
    assert str(frame.get_attribute("src")).endswith(f"/v1/jobs/{job_id}/files/plot.html")
    page.driver.switch_to.frame(frame)
    try:  # the job's own Bokeh page renders inside the sandboxed frame
        page.wait(lambda: page.js("return window.Bokeh && Object.keys(Bokeh.index).length"))
    finally:
        page.driver.switch_to.default_content()
    assert {"plot.html", "plot.png", "data.csv"} <= set(page.find("#job-files").text.split())

    document = api.get(f"/v1/jobs/{job_id}").json()
    assert document["status"] == "finished"
    assert document["params"]["keys"] == sorted(k for k in seeded if k.startswith("temp:"))
    assert document["params"]["title"] == "Temperatures, last 12 hours"
    page.js("window.scrollTo(0, 0)")
    page.screenshot("job-finished")

    # With an API key set, files are fetched with it and shown from blob: URLs.
    page.find("#api-key").send_keys("key-for-the-ui", Keys.TAB)
    assert page.js("return localStorage.getItem('tsapi.apiKey')") == "key-for-the-ui"
    page.wait(
        lambda: page.js(
            "const i = document.getElementById('job-png');"
            "return i && i.src.startsWith('blob:') && i.complete && i.naturalWidth"
        ),
        what="the PNG fetched with the key",
    )
    assert str(page.find("#job-plot-frame").get_attribute("src")).startswith("blob:")

    page.open("#/jobs")
    page.element(f'#job-rows tr[data-id="{job_id}"][data-status="finished"]')
    page.screenshot("jobs-list")


def test_series_and_points_made_in_the_ui_are_in_the_api(page: Page, api: httpx.Client) -> None:
    page.open("#/series")
    page.element("#new-series").click()
    page.element("dialog input[name=key]").send_keys("lab:probe-1")
    page.find("dialog textarea[name=labels]").send_keys("room=lab\nkind=probe")
    page.find("dialog input[name=retention]").send_keys("7d")
    page.find("dialog button[type=submit]").click()
    page.wait(lambda: page.driver.current_url.endswith("#/series/lab%3Aprobe-1"))
    series = api.get("/v1/series/lab:probe-1").json()
    assert series["labels"] == {"room": "lab", "kind": "probe"}
    assert series["retention_ms"] == 7 * 86_400_000

    time_field = page.element("#point-t")
    time_field.clear()
    time_field.send_keys("1700000000000")
    page.find("#point-v").send_keys("42.5")
    page.find("#point-form button[type=submit]").click()
    page.wait(lambda: api.get("/v1/series/lab:probe-1/points").json()["points"], what="a point")
    assert api.get("/v1/series/lab:probe-1/points").json()["points"] == [[1700000000000, 42.5]]

    page.wait(lambda: "42.5" in page.find("table tbody").text, what="the point listed")
    page.element("table button.ghost.small").click()  # "Edit" on the recent point
    assert page.find("#point-t").get_attribute("value") == "1700000000000"
    page.find("#point-v").clear()
    page.find("#point-v").send_keys("43")
    page.find("#point-form button[type=submit]").click()
    page.wait(
        lambda: (
            api.get("/v1/series/lab:probe-1/points").json()["points"] == [[1700000000000, 43.0]]
        ),
        what="the edited value",
    )
    page.wait(lambda: "43" in page.find("table tbody").text, what="the edited point listed")
    page.screenshot("series-detail")

    page.find("#delete-from").send_keys("-")
    page.find("#delete-to").send_keys("+")
    page.find("#delete-form button[type=submit]").click()
    confirm = page.element("dialog button.danger")
    assert "cannot be undone" in page.find("dialog").text
    assert api.get("/v1/series/lab:probe-1").json()["total_samples"] == 1  # not before confirming
    confirm.click()
    page.wait(lambda: api.get("/v1/series/lab:probe-1").json()["total_samples"] == 0)
    page.wait(lambda: "No points yet" in page.find("table tbody").text, what="the emptied table")


def test_rollup_tiers_set_on_the_series_page_are_filled_and_serve_its_plot(
    page: Page,
    api: httpx.Client,
    seeded: dict[str, list[list[float]]],
    worker: subprocess.Popen[bytes],
) -> None:
    def status() -> str:  # read afresh: the card is redrawn as the backfill goes
        return str(page.js("return document.querySelector('#rollup-status')?.textContent || ''"))

    page.open("#/series/temp:austin")
    page.wait(lambda: status() == "No tiers: aggregated reads use raw samples.", what="no tiers")
    defaults = page.js(
        "return [...document.querySelectorAll('#rollup-form .tier-row')]"
        "  .map(r => [...r.querySelectorAll('input')].map(i => i.value))"
    )
    assert defaults == [["1m", "90d"], ["1h", "730d"], ["1d", ""]]
    page.js("document.querySelector('#rollup-save').click()")  # the card may be redrawn
    page.wait(
        lambda: api.get("/v1/series/temp:austin/rollups").json()["tiers"],
        within=30,
        what="tiers set",
    )

    def filled() -> bool:  # one read: the text may change between two
        text = status()
        return text.startswith("Set on this series") and "backfill" not in text.lower()

    page.wait(filled, within=60, what="the backfill followed to its end")
    assert "% of raw" in status()
    shown = page.js(
        "return [...document.querySelectorAll('#rollup-rows tr')].map(r => r.dataset.tier)"
    )
    assert shown == ["1m", "1h", "1d"]
    assert not api.get("/v1/series/temp:austin/rollups").json()["pending"]
    page.wait(
        lambda: "1m" in str(page.js("return document.querySelector('.plot-host').dataset.tiers")),
        what="the plot served by tiers",
    )
    page.screenshot("series-rollups")


def test_with_api_keys_defined_the_page_sends_the_key_it_keeps(
    page: Page,
    api: httpx.Client,
    seeded: dict[str, list[list[float]]],
    worker_env: dict[str, str],
) -> None:
    # the page an earlier test left polls the job list; once keys are enforced, its
    # keyless polls would be refused (401) and logged in this test's console
    page.driver.get("about:blank")
    made = subprocess.run(
        [sys.executable, "-m", "tsapi", "keys", "create", "--name", "ui", "--scope", "read"],
        env=worker_env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip()
    page.wait(lambda: api.get("/v1/series").status_code == 401, what="keys being enforced")
    assert api.get("/", headers={}).status_code == 200  # the page itself needs no key

    page.open("#/series", api_key=token)
    page.wait(lambda: len(_rows(page)) == len(seeded), what="series listed with the key")
    page.wait(lambda: "…" not in page.find("#series-rows").text, what="rows filled in")
    assert page.find("#api-key").get_attribute("value") == token
