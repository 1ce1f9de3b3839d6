"""Keeping a serving app in step with the shared settings in Redis.

``install(app)`` reads the shared settings (:mod:`core.shared_config`) when serving starts,
then again every ``config_refresh`` seconds in a background task, and applies what changed:
the body size limit, the job queue's timeout, result TTL and retries, the TS.MADD chunk
size, and the rate limits (the access guard is rebuilt on the next request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from quart import Quart

from api.extensions import JOBS, SETTINGS, STORE
from api.security.access import GUARD
from core.settings import Settings
from core.shared_config import SharedSettings

__all__ = ["apply", "install"]

log = logging.getLogger(__name__)

REFRESHER = "tsapi.config_refresher"


def install(app: Quart) -> None:
    """Apply the shared settings while ``app`` serves (call after the store is opened)."""

    @app.before_serving
    async def start_refreshing() -> None:
        shared = SharedSettings(app.extensions[SETTINGS])
        apply(app, await shared.refresh(app.extensions[STORE].client))
        app.extensions[REFRESHER] = asyncio.create_task(_refresh_forever(app, shared))

    @app.after_serving
    async def stop_refreshing() -> None:
        task = app.extensions.pop(REFRESHER, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _refresh_forever(app: Quart, shared: SharedSettings) -> None:
    while True:
        await asyncio.sleep(shared.base.config_refresh)
        store = app.extensions.get(STORE)
        if store is None:
            continue
        before = shared.current
        current = await shared.refresh(store.client)
        if current is not before:
            apply(app, current)


def apply(app: Quart, settings: Settings) -> None:
    """Make ``settings`` the ones ``app`` works with."""
    app.extensions[SETTINGS] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    store = app.extensions.get(STORE)
    if store is not None:
        store.chunk_points = settings.write_chunk_points
    jobs = app.extensions.get(JOBS)
    if jobs is not None:
        jobs.job_timeout = settings.job_timeout
        jobs.result_ttl = settings.result_ttl
        jobs.retries = settings.job_retries
    app.extensions.pop(GUARD, None)  # rebuilt from the new settings (rate limits)
