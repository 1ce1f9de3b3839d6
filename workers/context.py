"""What a worker process keeps between jobs: an event loop with the store, the queue
connection, and a headless Chromium for PNGs (started once, on the first PNG)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from redis import Redis

from core.settings import Settings, load_settings
from plots.render import PngRenderer
from tsdb.connection import connect
from tsdb.store import TimeSeriesStore

__all__ = ["WorkerContext", "current", "install"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_current: WorkerContext | None = None
_lock = threading.Lock()


class WorkerContext:
    """Long-lived resources of one worker process."""

    def __init__(self, settings: Settings, queue_connection: Redis) -> None:
        self.settings = settings
        self.queue_connection = queue_connection
        self._runner = asyncio.Runner()
        self._store: TimeSeriesStore | None = None
        self._renderer: PngRenderer | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the worker's event loop (where the store's client lives)."""
        return self._runner.run(coroutine)

    @property
    def store(self) -> TimeSeriesStore:
        """The time-series store, connected on first use."""
        if self._store is None:
            client = connect(self.settings.redis_url, socket_timeout=self.settings.redis_timeout)
            store = TimeSeriesStore(client, chunk_points=self.settings.write_chunk_points)
            self.run(store.prepare())
            self._store = store
        return self._store

    @property
    def renderer(self) -> PngRenderer:
        """The PNG renderer; its browser starts on the first render and is kept."""
        if self._renderer is None:
            self._renderer = PngRenderer()
        return self._renderer

    def reset(self) -> None:
        """Drop the event loop, the store's connections and the browser (after a job was
        interrupted in the middle of using them); they are opened again when next used."""
        renderer, self._renderer = self._renderer, None
        store, self._store = self._store, None
        runner, self._runner = self._runner, asyncio.Runner()
        with contextlib.suppress(Exception):
            if renderer is not None:
                renderer.close()
        with contextlib.suppress(Exception):
            if store is not None:
                runner.run(store.client.aclose())
        with contextlib.suppress(Exception):
            runner.close()

    def close(self) -> None:
        """Stop the browser and close the connections."""
        if self._renderer is not None:
            self._renderer.close()
        if self._store is not None:
            self.run(self._store.client.aclose())
        self._runner.close()


def install(context: WorkerContext) -> None:
    """Make ``context`` the one jobs in this process use."""
    global _current
    with _lock:
        _current = context


def current() -> WorkerContext:
    """The installed context, or one built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            from workers.queue import connect_queue

            settings = load_settings()
            _current = WorkerContext(settings, connect_queue(settings.job_queue_url))
        return _current
