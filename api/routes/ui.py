"""The web interface: one page at ``/``, its static files, and BokehJS from the bokeh package.

The page is a small single-page app (vanilla JS modules in ``api/static``) that talks only to
the public API. BokehJS is served from the installed ``bokeh`` package under a versioned URL,
so the UI needs no network and no build step.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Final

import bokeh
from bokeh.util.paths import bokehjs_path
from quart import Blueprint, Response, abort, render_template, url_for
from quart.helpers import send_from_directory
from quart_schema import hide

__all__ = ["bp"]

API_DIR: Final = Path(__file__).resolve().parent.parent
STATIC_DIR: Final = API_DIR / "static"
TEMPLATES_DIR: Final = API_DIR / "templates"

#: The BokehJS bundles the page loads: the core and the ``Bokeh.Plotting`` API.
BOKEH_FILES: Final = ("bokeh.min.js", "bokeh-api.min.js")
YEAR: Final = 365 * 86_400

#: The page builds everything with DOM calls and talks only to this origin. Inline scripts are
#: allowed because a job's plot.html (inline BokehJS) is shown in a sandboxed blob: iframe when
#: an API key is set, and such documents inherit this policy.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
        "connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

bp = Blueprint("ui", __name__, template_folder=str(TEMPLATES_DIR))


@cache
def _assets_version() -> str:
    """A short hash of the static files, so a new release is never served from a stale cache."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@bp.get("/")
@hide
async def index() -> Response:
    """The web interface (HTML)."""
    version = _assets_version()
    page = await render_template(
        "index.html",
        css=url_for("ui.static_file", name="app.css", v=version),
        js=url_for("ui.static_file", name="app.js", v=version),
        icon=url_for("ui.static_file", name="favicon.svg", v=version),
        bokeh_js=[url_for("ui.bokeh_file", version=bokeh.__version__, name=n) for n in BOKEH_FILES],
    )
    return Response(page, mimetype="text/html", headers=PAGE_HEADERS)


@bp.get("/ui/static/<name>")
@hide
async def static_file(name: str) -> Response:
    """A file of the web interface (revalidated on every load: they are small)."""
    return await send_from_directory(STATIC_DIR, name, cache_timeout=0)


@bp.get("/favicon.ico")
@hide
async def favicon() -> Response:
    """The icon browsers ask for on any page of this origin (an SVG)."""
    return await send_from_directory(STATIC_DIR, "favicon.svg", mimetype="image/svg+xml")


@bp.get("/ui/bokeh/<version>/<name>")
@hide
async def bokeh_file(version: str, name: str) -> Response:
    """BokehJS from the installed bokeh package (cached for a year: the URL has its version)."""
    if version != bokeh.__version__ or name not in BOKEH_FILES:
        abort(404)
    return await send_from_directory(Path(bokehjs_path()) / "js", name, cache_timeout=YEAR)
