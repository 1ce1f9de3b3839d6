"""Jobs: submit-to-finished latency of plot jobs over a large series, and no-op throughput.

Everything goes through real ``tsapi worker`` processes beside the API. Plot jobs are
submitted with ``POST /v1/jobs`` and watched with ``GET /v1/jobs/{id}`` every few
milliseconds, the way a client would. No-op throughput is measured on batches queued while
the workers are suspended (RQ's ``rq suspend``), so the workers' own rate is timed from the
first job's start to the last job's end, apart from how fast the jobs were submitted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer
from rq.suspension import resume, suspend
from rq.worker import BaseWorker, WorkerStatus

from bench.aggregate import load_series
from bench.context import BenchContext
from bench.cpu import cpu_seconds, cpu_used
from bench.data import Samples
from bench.raw import settle
from bench.servers import running_workers
from bench.stats import stopwatch
from workers.jobs.noop import NoopParams
from workers.queue import QUEUE_NAME, JobQueue, connect_queue

__all__ = [
    "IN_FLIGHT",
    "POLL_SECONDS",
    "JobTimes",
    "PlotTiming",
    "Throughput",
    "Usage",
    "run_jobs",
]

KEY = "bench:jobs"
POLL_SECONDS = 0.005
"""How often a plot job's status is asked for."""
IN_FLIGHT = 16
"""Concurrent ``POST /v1/jobs`` requests when submitting no-op jobs through the API."""
JOB_DEADLINE = 300.0
"""Seconds any one wait may take before the benchmark gives up."""


@dataclass
class Usage:
    """What happened meanwhile: Redis forks (BGSAVE, AOF rewrite) and CPU seconds used by
    ``redis``, ``api``, ``workers`` (together; not their Chromium) and ``bench`` itself."""

    forks: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    commands: int = 0
    """Commands Redis processed (each command of a pipeline counts)."""


@dataclass
class PlotTiming:
    """One plot job: seconds from sending the POST to seeing it finished, and the server's view."""

    seconds: float
    queued_ms: int
    """created_at to started_at (the job's own timestamps)."""
    running_ms: int
    """started_at to ended_at."""
    usage: Usage


@dataclass
class Throughput:
    """``jobs`` done in ``seconds``."""

    jobs: int
    seconds: float
    usage: Usage

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds


@dataclass
class JobTimes:
    """Every timing of the job benchmark."""

    points: int
    first_png: PlotTiming
    html: list[PlotTiming] = field(default_factory=list)
    png: list[PlotTiming] = field(default_factory=list)
    noop_jobs: int = 0
    api_submit: Throughput | None = None
    """Submitting through the API (``IN_FLIGHT`` at a time) while the workers are suspended."""
    api_end_to_end: Throughput | None = None
    """Submitting through the API with one worker running: first POST to last job finished."""
    direct_submit: Throughput | None = None
    """``JobQueue.submit`` from this process, one at a time, workers suspended."""
    workers: dict[int, Throughput] = field(default_factory=dict)
    """By number of workers: jobs run while all of them were busy (job timestamps)."""
    worker_wall: dict[int, Throughput] = field(default_factory=dict)
    """The same batches from ``rq resume`` until all were seen finished (includes the
    workers' up to 1 s wake-up from suspension and the polling)."""


def run_jobs(ctx: BenchContext, samples: Samples, runs: int, noop_jobs: int) -> JobTimes:
    """Load the series, then time plot jobs and no-op batches on one and on two workers."""
    load_series(ctx, KEY, samples)
    connection = connect_queue(ctx.redis_url)
    bench = _JobBench(ctx, connection)
    try:
        with (
            running_workers(ctx.redis_url, 1, ctx.workdir, "worker-a") as first,
            httpx.Client(base_url=ctx.api_url, timeout=60.0) as http,
        ):
            bench.worker_pids = [p.pid for p in first]
            times = JobTimes(points=len(samples), first_png=bench.plot(http, "png"))
            settle(ctx.admin)
            for _ in range(runs):
                times.html.append(bench.plot(http, "html"))
                times.png.append(bench.plot(http, "png"))
            times.noop_jobs = noop_jobs
            times.api_submit, times.workers[1], times.worker_wall[1] = bench.noop_batch(
                lambda: bench.submit_through_api(noop_jobs)
            )
            settle(ctx.admin)
            times.api_end_to_end = bench.noop_end_to_end(noop_jobs)
            with running_workers(ctx.redis_url, 1, ctx.workdir, "worker-b") as second:
                bench.worker_pids += [p.pid for p in second]
                bench.warm_workers()
                times.direct_submit, times.workers[2], times.worker_wall[2] = bench.noop_batch(
                    lambda: bench.submit_directly(noop_jobs)
                )
    finally:
        resume(connection)
        connection.close()
    return times


class _JobBench:
    """The job benchmark's steps, on one queue connection."""

    def __init__(self, ctx: BenchContext, connection: redis.Redis) -> None:
        self.ctx = ctx
        self.connection = connection
        self.jobs = JobQueue(connection)
        self.queue = Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
        self.worker_pids: list[int] = []

    def plot(self, http: httpx.Client, fmt: str) -> PlotTiming:
        """Submit one plot job of the series in ``fmt`` and poll it until it has finished."""
        body = {"type": "plot", "params": {"keys": [KEY], "formats": [fmt]}}
        with self._metered() as usage, stopwatch() as watch:
            submitted = http.post("/v1/jobs", json=body)
            submitted.raise_for_status()
            document = _poll_finished(http, submitted.json()["id"])
        names = {f["name"] for f in document["files"]}
        if f"plot.{fmt}" not in names:
            raise RuntimeError(f"plot job {document['id']} made {sorted(names)}, no plot.{fmt}")
        return PlotTiming(
            seconds=watch.seconds,
            queued_ms=document["started_at"] - document["created_at"],
            running_ms=document["ended_at"] - document["started_at"],
            usage=usage,
        )

    def noop_batch(
        self, submit: Callable[[], tuple[list[str], float]]
    ) -> tuple[Throughput, Throughput, Throughput]:
        """Suspend the workers, ``submit`` a batch, resume them; time both halves.

        Returns the submission rate, the workers' rate by job timestamps, and their rate
        from ``rq resume`` until every job was seen finished.
        """
        self._suspend_workers()
        settle(self.ctx.admin)
        with self._metered() as usage:
            ids, submit_seconds = submit()
        submitted = Throughput(len(ids), submit_seconds, usage)
        settle(self.ctx.admin)
        done_before = self._ended()
        with self._metered() as usage, stopwatch() as watch:
            resume(self.connection)
            self._wait_ended(done_before + len(ids))
        executed = Throughput(*self._all_busy(ids), usage)
        return submitted, executed, Throughput(len(ids), watch.seconds, usage)

    def noop_end_to_end(self, count: int) -> Throughput:
        """Submit through the API while one worker runs; time until all have finished."""
        done_before = self._ended()
        with self._metered() as usage, stopwatch() as watch:
            ids, _ = self.submit_through_api(count)
            self._wait_ended(done_before + len(ids))
        return Throughput(len(ids), watch.seconds, usage)

    def submit_through_api(self, count: int) -> tuple[list[str], float]:
        """``POST /v1/jobs`` ``count`` no-op jobs, ``IN_FLIGHT`` at a time; ids and seconds."""
        return asyncio.run(_post_noops(self.ctx.api_url, count))

    def submit_directly(self, count: int) -> tuple[list[str], float]:
        """``JobQueue.submit`` ``count`` no-op jobs from here, one after the other."""
        params = NoopParams.model_validate({}).model_dump(mode="json", by_alias=True)
        with stopwatch() as watch:
            ids = [self.jobs.submit("noop", params).id for _ in range(count)]
        return ids, watch.seconds

    @contextmanager
    def _metered(self) -> Iterator[Usage]:
        """A :class:`Usage` filled in with what the block cost the servers."""
        admin, api = self.ctx.admin, self.ctx.api_pid
        usage = Usage()
        stats, cpu = _redis_stats(admin), cpu_seconds(admin, api, self.worker_pids)
        yield usage
        usage.cpu = cpu_used(cpu, cpu_seconds(admin, api, self.worker_pids))
        after = _redis_stats(admin)
        usage.forks = after["total_forks"] - stats["total_forks"]
        # less the INFO calls of the readings themselves
        usage.commands = after["total_commands_processed"] - stats["total_commands_processed"] - 3

    def warm_workers(self) -> None:
        """Hand out no-op jobs until every worker has run one (its imports are done)."""
        deadline = time.monotonic() + JOB_DEADLINE
        while any(w.successful_job_count == 0 for w in self._workers()):
            if time.monotonic() > deadline:
                raise TimeoutError("the workers did not run a job")
            if self.queue.count == 0:
                self.jobs.submit("noop", {})
            time.sleep(0.02)

    def _suspend_workers(self) -> None:
        """``rq suspend``, and wait until every worker has noticed.

        A worker notices before it takes its next job, so an idle one (blocked waiting for
        a job) is handed no-op jobs until it has; a leftover one is dropped from the queue.
        """
        suspend(self.connection)
        deadline = time.monotonic() + JOB_DEADLINE
        while not self._all_suspended():
            if time.monotonic() > deadline:
                raise TimeoutError("the workers did not suspend")
            if self.queue.count == 0:
                self.jobs.submit("noop", {})
            time.sleep(0.02)
        self.queue.empty()

    def _all_suspended(self) -> bool:
        return all(w.get_state() == WorkerStatus.SUSPENDED for w in self._workers())

    def _workers(self) -> list[BaseWorker]:
        """Our workers as RQ lists them now (fails if one is missing)."""
        ours = [w for w in Worker.all(connection=self.connection) if w.pid in self.worker_pids]
        if len(ours) != len(self.worker_pids):
            raise RuntimeError(f"{len(ours)} of {len(self.worker_pids)} workers are registered")
        return ours

    def _ended(self) -> int:
        """Jobs in the finished and failed registries; fails if any job failed."""
        failed = FailedJobRegistry(queue=self.queue).get_job_ids()
        if failed:
            raise RuntimeError(f"{len(failed)} jobs failed, e.g. {failed[0]}")
        return FinishedJobRegistry(queue=self.queue).count

    def _wait_ended(self, count: int) -> None:
        deadline = time.monotonic() + JOB_DEADLINE
        while self._ended() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self._ended()} of {count} jobs finished")
            time.sleep(0.01)

    def _all_busy(self, ids: list[str]) -> tuple[int, float]:
        """Jobs run, and seconds, while every worker was running jobs (job timestamps).

        Suspended workers wake up to a second apart, so the window opens when the last
        worker starts its first job and closes when the first one ends its last; jobs
        wholly inside it count.
        """
        jobs = Job.fetch_many(ids, connection=self.connection, serializer=JSONSerializer)
        spans: dict[str, list[tuple[float, float]]] = {}
        for job in jobs:
            if job is None or job.started_at is None or job.ended_at is None:
                raise RuntimeError("a job of the batch has no start or end time")
            span = (job.started_at.timestamp(), job.ended_at.timestamp())
            spans.setdefault(str(job.worker_name), []).append(span)
        if len(spans) != len(self.worker_pids):
            raise RuntimeError(f"{len(spans)} of {len(self.worker_pids)} workers ran jobs")
        opened = max(min(start for start, _ in runs) for runs in spans.values())
        closed = min(max(end for _, end in runs) for runs in spans.values())
        inside = sum(
            opened <= start and end <= closed for runs in spans.values() for start, end in runs
        )
        return inside, closed - opened


def _poll_finished(http: httpx.Client, job_id: str) -> dict[str, Any]:
    """``GET /v1/jobs/{id}`` every ``POLL_SECONDS`` until it has finished; its document."""
    deadline = time.monotonic() + JOB_DEADLINE
    while time.monotonic() < deadline:
        response = http.get(f"/v1/jobs/{job_id}")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        if document["status"] == "finished":
            return document
        if document["status"] in ("failed", "canceled"):
            raise RuntimeError(f"job {job_id} {document['status']}: {document['error']}")
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"job {job_id} did not finish within {JOB_DEADLINE:.0f} s")


async def _post_noops(api_url: str, count: int) -> tuple[list[str], float]:
    """Submit ``count`` no-op jobs, ``IN_FLIGHT`` requests at a time; their ids and seconds."""
    ids: list[str] = []
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=api_url, timeout=60.0, limits=limits) as http:

        async def post() -> None:
            async with gate:
                response = await http.post("/v1/jobs", json={"type": "noop"})
            response.raise_for_status()
            ids.append(response.json()["id"])

        await http.get("/healthz")  # connect outside the timing
        with stopwatch() as watch:
            await asyncio.gather(*(post() for _ in range(count)))
    return ids, watch.seconds


def _redis_stats(admin: redis.Redis) -> dict[str, int]:
    """Forks (BGSAVE, AOF rewrites) and commands processed so far."""
    stats: dict[str, Any] = admin.info("stats")
    return {k: int(stats.get(k, 0)) for k in ("total_forks", "total_commands_processed")}
