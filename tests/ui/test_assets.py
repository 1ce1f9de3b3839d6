"""The page and its assets come from the app itself: no CDN, no build step, no network."""

from __future__ import annotations

import re

import bokeh
from quart.testing import QuartClient


async def test_page_loads_only_assets_the_app_serves(client: QuartClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    page = await response.get_data(as_text=True)
    assert not re.search(r"https?://", page), "the page must not load anything remote"
    assets = re.findall(r'(?:src|href)="(/ui/[^"]+)"', page)
    assert {a.split("?")[0].rsplit("/", 1)[1] for a in assets} == {
        "favicon.svg",
        "app.css",
        "bokeh.min.js",
        "bokeh-api.min.js",
        "app.js",
    }
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml"


async def test_bokehjs_comes_from_the_installed_package_under_a_versioned_url(
    client: QuartClient,
) -> None:
    response = await client.get(f"/ui/bokeh/{bokeh.__version__}/bokeh-api.min.js")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000"
    body = await response.get_data()
    assert bokeh.__version__.encode() in body


async def test_unknown_assets_are_404_problems(client: QuartClient) -> None:
    for path in (
        "/ui/bokeh/0.0.1/bokeh.min.js",  # another version
        f"/ui/bokeh/{bokeh.__version__}/compiler.js",  # not one the page needs
        "/ui/static/missing.js",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"
