"""Why a request was turned away: no valid key (401), not allowed (403), too many (429),
or too slow (504). Each is one problem+json shape, mapped in :mod:`api.errors`.

The 401 body is the same whatever was wrong with the key (missing, malformed, unknown,
revoked, wrong secret), so an answer never tells whether a key exists.
"""

from __future__ import annotations

from api.errors import ApiError, RequestRefused

__all__ = ["KeyNotFound", "NotAllowed", "NotAuthenticated", "RateLimited", "RequestTimedOut"]

REALM = 'Bearer realm="tsapi"'


class NotAuthenticated(RequestRefused):
    """No valid API key (RFC 9110: the request lacks valid credentials)."""

    def __init__(self, *, token_sent: bool) -> None:
        challenge = f'{REALM}, error="invalid_token"' if token_sent else REALM
        super().__init__(
            401,
            "unauthorized",
            "Unauthorized",
            "a valid API key is required: send it as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": challenge},
        )


class NotAllowed(RequestRefused):
    """A valid key that may not do this (RFC 9110: understood, refused)."""

    def __init__(self, detail: str, *, scope: str | None = None) -> None:
        headers = (
            {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'}
            if scope
            else None
        )
        super().__init__(403, "forbidden", "Forbidden", detail, headers=headers)


class RateLimited(RequestRefused):
    """Over the per-key (or per-address) request rate."""

    def __init__(self, retry_after: int, limit: float) -> None:
        super().__init__(
            429,
            "rate-limited",
            "Too Many Requests",
            f"more than {limit:g} requests per second; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class RequestTimedOut(RequestRefused):
    """The handler did not produce a response within TSAPI_REQUEST_TIMEOUT."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            504,
            "request-timeout",
            "Request took too long",
            f"no response within {seconds:g} s; the request was stopped and may have been "
            "partly applied",
        )


class KeyNotFound(ApiError):
    """No API key with this id (``/v1/keys/{id}``)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(404, "key-not-found", "API key not found", f"no API key {key_id!r}")
