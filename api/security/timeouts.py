"""A deadline for every handler: past ``TSAPI_REQUEST_TIMEOUT`` seconds it is stopped
and the client gets ``504`` problem+json.

The deadline covers the handler, until its response is ready to start; a streamed body
(a long range read) is then sent at its own pace, bounded by Quart's ``RESPONSE_TIMEOUT``.
Uploads are bounded apart by Quart's ``BODY_TIMEOUT`` (a body not received in time is a
``408``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Final

from quart import Quart

from api.security.errors import RequestTimedOut

__all__ = ["apply_request_timeout"]

_WRAPPED: Final = "_tsapi_deadline"


def _with_deadline(app: Quart, view: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    run = app.ensure_async(view)

    @functools.wraps(view)
    async def handler(*args: Any, **kwargs: Any) -> Any:
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await run(*args, **kwargs)
        except TimeoutError:
            if not deadline.expired():
                raise  # a timeout of the handler's own, not the deadline
            raise RequestTimedOut(seconds) from None

    setattr(handler, _WRAPPED, True)
    return handler


def apply_request_timeout(app: Quart, seconds: float) -> None:
    """Give every view of ``app`` (registered so far) a deadline of ``seconds``."""
    for endpoint, view in list(app.view_functions.items()):
        if not getattr(view, _WRAPPED, False):
            app.view_functions[endpoint] = _with_deadline(app, view, seconds)
