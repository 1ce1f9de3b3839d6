"""JSON responses built with orjson (fast, and NaN becomes null as JSON requires)."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Response

__all__ = ["PROBLEM_JSON", "dumps", "json_response"]

PROBLEM_JSON = "application/problem+json"
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(data: Any) -> bytes:
    """Serialize ``data`` (dataclasses, numpy values and datetimes included)."""
    return orjson.dumps(data, option=_OPTIONS)


def json_response(
    data: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """A JSON response with ``data`` serialized by orjson."""
    return Response(dumps(data), status=status, headers=headers, mimetype=mimetype)
