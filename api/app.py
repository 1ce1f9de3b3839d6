"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

from quart import Quart, Response, request
from quart_schema import Info, QuartSchema

from api.contract import install as install_contract
from api.cors import install as install_cors
from api.errors import register_error_handlers
from api.extensions import BREAKERS, JOBS, SETTINGS, STORE
from api.ingest.body import StreamingHTTPConnection, StreamingRequest
from api.json_body import install as install_json_bodies
from api.live_config import install as install_live_config
from api.metrics import install_metrics
from api.openapi import ContractProvider
from api.outage import OUTAGE_LOG, OutageLog
from api.routes import (
    bulk,
    docs,
    health,
    influx,
    jobs,
    keys,
    labels,
    points,
    prometheus,
    query,
    rollups,
    rules,
    schedules,
    series,
    ui,
)
from api.routes import metrics as metrics_routes
from api.security import install as install_security
from api.security.access import is_public
from core.settings import Settings, load_settings
from core.version import VERSION
from tsdb.breaker import Breaker
from tsdb.connection import check_module, connect, is_cluster_url
from tsdb.store import TimeSeriesStore
from workers.queue import JobQueue, connect_queue

__all__ = ["create_app"]

log = logging.getLogger(__name__)

WATCHERS = "tsapi.breaker_watchers"


def create_app(settings: Settings | None = None) -> Quart:
    """Build the tsapi app. Redis is connected when serving starts, not here."""
    settings = settings or load_settings()
    app = Quart("api", static_folder=None)  # the web interface serves its own files
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
        openapi_path=None,  # served by api.routes.docs, with Swagger UI from a package
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=ContractProvider,
    )
    register_error_handlers(app)
    install_metrics(app)  # first, so that its timer covers the access checks
    install_cors(app, settings.cors_origins)  # preflights answered before any key check
    install_security(app)
    install_json_bodies(app)  # after the access checks: 401/403 before 415
    install_contract(app)  # typed path parameters: 422
    app.register_blueprint(metrics_routes.bp)
    routes = (health, series, points, query, rules, rollups, labels, jobs, schedules, bulk)
    for module in (*routes, influx, keys, docs, ui):
        app.register_blueprint(module.bp)
    for name, prefix in prometheus.PREFIXES.items():
        app.register_blueprint(prometheus.bp, url_prefix=prefix, name=name)

    app.extensions[OUTAGE_LOG] = OutageLog(settings.outage_log_interval)
    breakers = _breakers(settings)
    app.extensions[BREAKERS] = breakers

    @app.before_serving
    async def open_store() -> None:
        _tune_garbage_collector()
        client = connect(
            settings.redis_url,
            socket_timeout=settings.redis_timeout,
            breaker=breakers.get(settings.redis_url),
        )
        version = await check_module(client)
        log.info("connected to %s (RedisTimeSeries %s)", _redacted(settings.redis_url), version)
        app.extensions[STORE] = TimeSeriesStore(client, chunk_points=settings.write_chunk_points)
        await app.extensions[STORE].prepare()  # cluster layout, tsapi's Redis functions
        app.extensions[JOBS] = JobQueue(
            connect_queue(
                settings.job_queue_url,
                socket_timeout=settings.redis_timeout,
                breaker=breakers.get(settings.job_queue_url),
            ),
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

    @app.before_serving
    async def watch_redis() -> None:
        app.extensions[WATCHERS] = [
            asyncio.create_task(breaker.watch(url)) for url, breaker in breakers.items()
        ]

    @app.after_serving
    async def stop_watching() -> None:
        for task in app.extensions.pop(WATCHERS, []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @app.after_request
    async def note_recovery(response: Response) -> Response:
        outage = app.extensions[OUTAGE_LOG]
        served = response.status_code < 500 and not is_public(request.endpoint)
        if outage.in_outage and served and not any(b.is_open for b in breakers.values()):
            outage.recovered()
        return response

    return app


def _breakers(settings: Settings) -> dict[str, Breaker]:
    """One breaker per standalone Redis the app talks to (the data, and the job queue's)."""
    breakers: dict[str, Breaker] = {}
    for url in (settings.redis_url, settings.job_queue_url):
        if not is_cluster_url(url) and url not in breakers:
            breakers[url] = Breaker(
                "Redis" if url == settings.redis_url else "the job queue's Redis",
                probe_interval=settings.redis_probe_interval,
                probe_timeout=settings.redis_timeout + 5,
            )
    return breakers


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
