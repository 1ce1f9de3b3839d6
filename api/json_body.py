"""JSON request bodies: one rule for every route that takes one.

A body sent as something other than ``application/json`` (or ``+json``) gets 415 with the
same message everywhere, before validation could call it "not a valid dictionary"; a body
that is not JSON gets 400.
"""

from __future__ import annotations

from typing import Any

import orjson
from quart import Quart, current_app, request
from quart_schema import DataSource
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE

from api.errors import ApiError

__all__ = ["install", "read_json_body", "require_json"]


def require_json() -> None:
    """Raise 415 unless the request says its body is JSON."""
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"send the body as application/json (got {request.mimetype or 'no content type'})",
        )


async def read_json_body() -> Any:
    """The request body parsed with orjson; 415 unless it is JSON, 400 if malformed."""
    require_json()
    body = await request.get_data(cache=False)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed-json", "Malformed JSON", f"the body is not JSON: {exc}"
        ) from None


def install(app: Quart) -> None:
    """Check the content type of every route validated with a JSON body model."""

    @app.before_request
    async def json_bodies_are_json() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        schema = getattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, None)
        if schema is not None and schema[1] == DataSource.JSON:
            require_json()
