"""JSON responses built with orjson (fast, and NaN becomes null as JSON requires)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from quart import Response

if TYPE_CHECKING:
    from tsdb.rejections import Rejections

__all__ = ["PROBLEM_JSON", "dumps", "ignored_fields", "json_response"]

PROBLEM_JSON = "application/problem+json"
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(data: Any) -> bytes:
    """Serialize ``data`` (dataclasses, numpy values and datetimes included)."""
    return orjson.dumps(data, option=_OPTIONS)


def ignored_fields(ignored: Rejections | None) -> dict[str, Any]:
    """How a write reports the points the series' IGNORE filter dropped (stored nowhere, but
    not an error): when there are any, ``ignored`` (a count) and ``ignored_points`` (each
    with its position, key, t, v and reason, the first 1,000)."""
    if ignored is None or not ignored:
        return {}
    return {"ignored": ignored.count, "ignored_points": ignored.as_dicts()}


def json_response(
    data: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """A JSON response with ``data`` serialized by orjson."""
    return Response(dumps(data), status=status, headers=headers, mimetype=mimetype)
