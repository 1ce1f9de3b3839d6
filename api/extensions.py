"""Access to what the app opens while serving (kept in ``app.extensions``)."""

from __future__ import annotations

from quart import current_app

from api.settings import Settings
from tsdb.store import TimeSeriesStore

__all__ = ["settings", "store"]

STORE = "tsapi.store"
SETTINGS = "tsapi.settings"


def store() -> TimeSeriesStore:
    """The time-series store of the running app."""
    return current_app.extensions[STORE]


def settings() -> Settings:
    """The settings the app was built with."""
    return current_app.extensions[SETTINGS]
