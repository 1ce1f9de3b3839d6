"""CORS: which other origins' pages may call the API from a browser (``TSAPI_CORS_ORIGINS``).

Off by default: no ``Access-Control-*`` header is sent, and browsers keep pages of other
origins from reading answers. With origins set (``https://grafana.example:3000``, or ``*``
for any), every route answers them:

- a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an
  allowed origin gets ``204`` with the allowed methods and headers, before any key check
  (browsers send no credentials with it); from another origin, ``403``;
- every other answer to an allowed origin (errors too) carries
  ``Access-Control-Allow-Origin`` and exposes the headers a client reads (``Location``,
  ``Retry-After``, ``X-Next-Cursor``, ``WWW-Authenticate``).

API keys travel in the ``Authorization`` header (not cookies), so credentials mode is not
needed and not allowed.
"""

from __future__ import annotations

from typing import Final

from quart import Quart, Response, request

from api.errors import ApiError

__all__ = ["install"]

ALLOW_METHODS: Final = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS: Final = "Authorization, Content-Type, Content-Encoding, X-API-Key, Accept"
EXPOSE_HEADERS: Final = "Location, Retry-After, X-Next-Cursor, WWW-Authenticate, X-Tsapi-Ignored"
MAX_AGE: Final = "600"


def _allowed(origin: str, origins: frozenset[str]) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for ``origin``, or None if not allowed."""
    if "*" in origins:
        return "*"
    return origin if origin.rstrip("/") in origins else None


def install(app: Quart, origins: list[str]) -> None:
    """Answer preflights and add CORS headers for ``origins`` (nothing when it is empty)."""
    allowed = frozenset(o.rstrip("/") for o in origins)
    if not allowed:
        return

    @app.before_request
    async def preflight() -> Response | None:
        origin = request.headers.get("Origin")
        if request.method != "OPTIONS" or not origin:
            return None
        if "Access-Control-Request-Method" not in request.headers:
            return None
        value = _allowed(origin, allowed)
        if value is None:
            raise ApiError(
                403, "cors-origin", "Origin not allowed", f"{origin} is not in TSAPI_CORS_ORIGINS"
            )
        response = Response(status=204)
        response.headers.update(
            {
                "Access-Control-Allow-Origin": value,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
                "Vary": "Origin",
            }
        )
        return response

    @app.after_request
    async def cors_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        value = _allowed(origin, allowed) if origin else None
        if value is not None and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = value
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            response.headers.add("Vary", "Origin")
        return response
