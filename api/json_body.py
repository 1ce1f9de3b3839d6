"""JSON request bodies: one rule for every route that takes one.

A body sent as something other than ``application/json`` (or ``+json``) gets 415 with the
same message everywhere, before validation could call it "not a valid dictionary"; a body
that is not JSON gets 400. A JSON body is then checked against the operation's schema in
``/openapi.json`` (the document is the contract: JSON Schema's own rules, such as ``true``
not being a number), before the route's model reads it.
"""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema_rs
import orjson
from quart import Quart, current_app, request
from quart_schema import DataSource
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE

from api.contract import OWN_BODY
from api.errors import ApiError
from tsdb.errors import InvalidInput

VALIDATORS = "tsapi.body_validators"

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
    """Check the content type of every route validated with a JSON body model, and its
    body against the document."""

    @app.before_request
    async def json_bodies_are_json() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        schema = getattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, None)
        if schema is not None and schema[1] == DataSource.JSON:
            require_json()
            if getattr(view, OWN_BODY, False):
                return
            body = await request.get_json(silent=True)  # cached: the route reads it again
            if body is None:
                return  # not JSON at all: quart-schema answers 400
            validator = _validators(app).get(getattr(view, "__name__", ""))
            if validator is not None:
                _check(validator, body)


def _validators(app: Quart) -> dict[str, Any]:
    """A validator of each operation's JSON body, by operationId (made once)."""
    found: dict[str, Any] | None = app.extensions.get(VALIDATORS)
    if found is None:
        provider = app.extensions["QUART_SCHEMA"].openapi_provider
        document = provider.contract(open_access=False)
        found = {}
        for operations in document["paths"].values():
            for operation in operations.values():
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content and operation.get("operationId"):
                    schema = {
                        **content["application/json"]["schema"],
                        "components": document["components"],
                    }
                    found[operation["operationId"]] = jsonschema_rs.validator_for(schema)
        app.extensions[VALIDATORS] = found
    return found


def _check(validator: Any, body: Any) -> None:
    errors = [
        {"field": "body" + "".join(f".{p}" for p in e.instance_path), "message": e.message}
        for e in itertools.islice(validator.iter_errors(body), 20)
    ]
    if errors:
        shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        raise InvalidInput(f"the body does not match the API's schema: {shown}", errors=errors)
