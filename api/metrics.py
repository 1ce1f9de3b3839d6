"""Figures for Prometheus: requests by route and status, their latency, refusals, and the
job system (jobs by state, queue length, workers) read from RQ's registries when scraped.

Each API process keeps its own request figures (a scrape reaches one process: run one
server process per container, or sum across instances). Job and queue figures come from
Redis, so every process reports the same.
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from quart import Quart, Response, current_app, g, request
from rq import Worker

from tsdb.faults import translate
from workers.queue import JobQueue

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "install_metrics", "metrics"]

METRICS: Final = "tsapi.metrics"
#: RQ registries reported as ``tsapi_jobs{state=...}``.
JOB_STATES: Final = ("started", "finished", "failed", "canceled", "deferred", "scheduled")
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED: Final = "<unmatched>"


class Metrics:
    """The instruments of one app, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "tsapi_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tsapi_http_request_duration_seconds",
            "Seconds until the response starts, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "tsapi_http_requests_in_progress",
            "Requests being handled by this process",
            registry=self.registry,
        )
        self.refused = Counter(
            "tsapi_http_requests_refused",
            "Requests refused before their handler: 401, 403, 429, or stopped: 504",
            ["status"],
            registry=self.registry,
        )
        self.jobs = Gauge(
            "tsapi_jobs",
            "Jobs in each RQ registry (queued jobs are tsapi_queue_length)",
            ["state"],
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "tsapi_queue_length", "Jobs waiting in the queue", registry=self.registry
        )
        self.workers = Gauge(
            "tsapi_workers", "Workers registered on the queue", registry=self.registry
        )

    def read_jobs(self, queue: JobQueue) -> None:
        """Set the job figures from Redis (blocking: run it in a thread)."""
        rq_queue = queue.queue
        with translate():
            self.queue_length.set(rq_queue.count)
            for state in JOB_STATES:
                registry = getattr(rq_queue, f"{state}_job_registry")
                self.jobs.labels(state).set(registry.count)
            self.workers.set(Worker.count(connection=queue.connection, queue=rq_queue))

    def render(self) -> bytes:
        """Every figure in Prometheus' text format."""
        return generate_latest(self.registry)


def metrics() -> Metrics:
    """The figures of the running app."""
    return current_app.extensions[METRICS]


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def install_metrics(app: Quart) -> None:
    """Count and time every request of ``app``."""
    figures = app.extensions[METRICS] = Metrics()

    @app.before_request
    async def start_timer() -> None:
        g.metrics_started = time.perf_counter()
        figures.in_progress.inc()

    @app.after_request
    async def count_request(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            route = _route()
            figures.latency.labels(request.method, route).observe(time.perf_counter() - started)
            figures.requests.labels(request.method, route, str(response.status_code)).inc()
            if response.status_code in (401, 403, 429, 504):
                figures.refused.labels(str(response.status_code)).inc()
        return response

    @app.teardown_request
    async def stop_timer(_exc: BaseException | None) -> None:
        if g.pop("metrics_started", None) is not None:
            figures.in_progress.dec()
