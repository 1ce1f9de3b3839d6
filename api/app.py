"""The application factory."""

from __future__ import annotations

import logging

from quart import Quart
from quart_schema import Info, QuartSchema

from api.errors import register_error_handlers
from api.extensions import JOBS, SETTINGS, STORE
from api.routes import health, jobs, labels, points, query, rules, series
from api.settings import Settings, load_settings
from tsdb.connection import check_module, connect
from tsdb.store import TimeSeriesStore
from workers.queue import JobQueue, connect_queue

__all__ = ["create_app"]

log = logging.getLogger(__name__)

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> Quart:
    """Build the tsapi app. Redis is connected when serving starts, not here."""
    settings = settings or load_settings()
    app = Quart("api")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[SETTINGS] = settings
    QuartSchema(
        app,
        info=Info(
            title="tsapi",
            version=VERSION,
            description="A REST API over Redis TimeSeries: series, points, queries and jobs.",
        ),
        openapi_path="/openapi.json",
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    register_error_handlers(app)
    for module in (health, series, points, query, rules, labels, jobs):
        app.register_blueprint(module.bp)

    @app.before_serving
    async def open_store() -> None:
        client = connect(settings.redis_url, socket_timeout=settings.redis_timeout)
        version = await check_module(client)
        log.info("connected to %s (RedisTimeSeries %s)", _redacted(settings.redis_url), version)
        app.extensions[STORE] = TimeSeriesStore(client, chunk_points=settings.write_chunk_points)
        app.extensions[JOBS] = JobQueue(
            connect_queue(settings.job_queue_url),
            job_timeout=settings.job_timeout,
            result_ttl=settings.result_ttl,
            retries=settings.job_retries,
        )

    @app.after_serving
    async def close_store() -> None:
        store = app.extensions.pop(STORE, None)
        if store is not None:
            await store.client.aclose()
        queue = app.extensions.pop(JOBS, None)
        if queue is not None:
            queue.connection.close()

    return app


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"
