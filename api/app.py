"""The application factory."""

from __future__ import annotations

import gc
import logging

from quart import Quart
from quart_schema import Info, QuartSchema

from api.errors import register_error_handlers
from api.extensions import JOBS, SETTINGS, STORE
from api.ingest.body import StreamingHTTPConnection, StreamingRequest
from api.json_body import install as install_json_bodies
from api.live_config import install as install_live_config
from api.metrics import install_metrics
from api.routes import (
    bulk,
    health,
    influx,
    jobs,
    labels,
    points,
    query,
    rollups,
    rules,
    schedules,
    series,
    ui,
)
from api.routes import metrics as metrics_routes
from api.security import SecuredOpenAPIProvider
from api.security import install as install_security
from core.settings import Settings, load_settings
from core.version import VERSION
from tsdb.connection import check_module, connect
from tsdb.store import TimeSeriesStore
from workers.queue import JobQueue, connect_queue

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Quart:
    """Build the tsapi app. Redis is connected when serving starts, not here."""
    settings = settings or load_settings()
    app = Quart("api")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # Answers stream (10 M points take a while) and uploads may be large: Quart's 60 s
    # defaults would cut them off silently. Handlers have their own timeout (api/security).
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = 600
    # Read request bodies only as fast as a streaming view takes them (bounded memory).
    app.request_class = StreamingRequest
    app.asgi_http_class = StreamingHTTPConnection
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
        openapi_provider_class=SecuredOpenAPIProvider,
    )
    register_error_handlers(app)
    install_metrics(app)  # first, so that its timer covers the access checks
    install_security(app)
    install_json_bodies(app)  # after the access checks: 401/403 before 415
    app.register_blueprint(metrics_routes.bp)
    for module in (
        health, series, points, query, rules, rollups, labels, jobs, schedules, bulk, influx, ui
    ):  # fmt: skip
        app.register_blueprint(module.bp)

    @app.before_serving
    async def open_store() -> None:
        _tune_garbage_collector()
        client = connect(settings.redis_url, socket_timeout=settings.redis_timeout)
        version = await check_module(client)
        log.info("connected to %s (RedisTimeSeries %s)", _redacted(settings.redis_url), version)
        app.extensions[STORE] = TimeSeriesStore(client, chunk_points=settings.write_chunk_points)
        await app.extensions[STORE].prepare()  # cluster layout, tsapi's Redis functions
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

    install_live_config(app)  # after open_store: applies the shared settings in Redis
    return app


def _tune_garbage_collector() -> None:
    """Keep the collector off what every request leaves alone.

    A large read makes a million small lists; each collection then walked the whole heap of
    imported modules too, which tripled the time to stream a 1 M-sample range. Freezing the
    heap built at start and collecting the young generation less often (bench/RESULTS.md)
    brought that read to about half the time redis-py alone takes, and readers +22 %.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"
