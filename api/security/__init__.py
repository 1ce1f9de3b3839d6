"""Access control and request limits: API keys with scopes and series limits, per-key rate
limits, and a deadline per request.

``install(app)`` hooks it all into an app; ``tsapi keys`` manages the keys.
"""

from __future__ import annotations

from quart import Quart

from api.extensions import SETTINGS
from api.security.access import guard_request
from api.security.keys import ApiKey, KeyStore, NewKey, Scope
from api.security.timeouts import apply_request_timeout

__all__ = ["ApiKey", "KeyStore", "NewKey", "Scope", "install"]


def install(app: Quart) -> None:
    """Guard every request of ``app`` and give its handlers a deadline."""
    app.before_request(guard_request)

    @app.before_serving
    async def deadline_handlers() -> None:
        # when serving starts, so that routes registered after install() get it too
        apply_request_timeout(app, app.extensions[SETTINGS].request_timeout)
