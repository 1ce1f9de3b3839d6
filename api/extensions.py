"""Access to what the app opens while serving (kept in ``app.extensions``)."""

from __future__ import annotations

from quart import current_app

from core.settings import Settings
from tsdb.store import TimeSeriesStore
from workers.queue import JobQueue

__all__ = ["jobs", "settings", "store"]

STORE = "tsapi.store"
SETTINGS = "tsapi.settings"
JOBS = "tsapi.jobs"
BREAKERS = "tsapi.breakers"


def store() -> TimeSeriesStore:
    """The time-series store of the running app."""
    return current_app.extensions[STORE]


def settings() -> Settings:
    """The settings the app was built with."""
    return current_app.extensions[SETTINGS]


def jobs() -> JobQueue:
    """The job queue of the running app."""
    return current_app.extensions[JOBS]
