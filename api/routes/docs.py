"""The contract, readable: ``/openapi.json`` and ``/docs`` (Swagger UI, served offline).

Swagger UI comes from the installed ``swagger-ui-bundle-v2`` package, under a versioned URL,
so the page needs no network, like the web interface. ``/openapi.json`` is the document of
:mod:`api.openapi`; it says that no key is needed exactly when this caller needs none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from quart import Blueprint, Response, abort, current_app, render_template, url_for
from quart.helpers import send_from_directory
from quart_schema import hide
from swagger_ui_bundle import swagger_ui_path

from api.openapi import ContractProvider
from api.responses import json_response
from api.routes.ui import TEMPLATES_DIR, _assets_version
from api.security.access import open_to_caller

__all__ = ["bp"]

SWAGGER_DIR: Final = Path(str(swagger_ui_path))
SWAGGER_VERSION: Final = SWAGGER_DIR.name.removeprefix("swagger-ui-")
SWAGGER_FILES: Final = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})
YEAR: Final = 365 * 86_400

#: Swagger UI sets inline styles; everything else comes from this origin.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

bp = Blueprint("docs", __name__, template_folder=str(TEMPLATES_DIR))


@bp.get("/openapi.json")
@hide
async def openapi() -> Response:
    """The OpenAPI 3.1 document of this server."""
    provider = current_app.extensions["QUART_SCHEMA"].openapi_provider
    assert isinstance(provider, ContractProvider)
    return json_response(provider.contract(open_access=await open_to_caller()))


@bp.get("/docs")
@hide
async def docs() -> Response:
    """The API documentation (Swagger UI), offline."""
    version = _assets_version()
    page = await render_template(
        "docs.html",
        openapi=url_for("docs.openapi"),
        css=url_for("docs.swagger_file", version=SWAGGER_VERSION, name="swagger-ui.css"),
        bundle=url_for("docs.swagger_file", version=SWAGGER_VERSION, name="swagger-ui-bundle.js"),
        init=url_for("ui.static_file", name="docs.js", v=version),
        icon=url_for("ui.static_file", name="favicon.svg", v=version),
    )
    return Response(page, mimetype="text/html", headers=PAGE_HEADERS)


@bp.get("/docs/swagger-ui/<version>/<name>")
@hide
async def swagger_file(version: str, name: str) -> Response:
    """A Swagger UI file from the installed package (cached: the URL has its version)."""
    if version != SWAGGER_VERSION or name not in SWAGGER_FILES:
        abort(404)
    return await send_from_directory(SWAGGER_DIR, name, cache_timeout=YEAR)
