"""Concurrent readers: requests per second of a small range query with many clients.

The API is driven by ``wrk`` when it is installed (a C client, so the client's own cost
stays small), else by an httpx ``AsyncClient`` with one task per client; first the bench's
API (one server process), then a second ``tsapi serve --workers 2``. The raw side is the
same ``TS.RANGE`` looped by as many redis-py tasks on one asyncio loop. ``redis-benchmark``
(a C client) runs the command too, for what Redis alone can do; it is kept in the JSON.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from redis.asyncio import Redis

from bench.aggregate import load_series
from bench.context import BenchContext
from bench.cpu import cpu_seconds, cpu_used, process_seconds
from bench.data import START_MS, STEP_MS, Samples
from bench.raw import settle
from bench.servers import running_api

__all__ = ["ReaderRate", "ReaderTimes", "run_readers", "wrk_rate"]

KEY = "bench:readers"
WINDOW = 100
"""Samples each query returns."""
WARM_UP = 2.0
"""Seconds of load before each measured one (server processes warmed, connections open)."""


@dataclass
class ReaderRate:
    """Requests (or commands) answered in ``seconds``, and what they cost in CPU."""

    requests: int
    seconds: float
    errors: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    """Percentiles (``50``, ``99``) of the request time, where the client reports them."""
    cpu: dict[str, float] = field(default_factory=dict)
    process_cpu: list[float] = field(default_factory=list)
    """CPU seconds of each API server process (uvicorn's supervisor first when there are
    several): shows how evenly the kernel spread the connections over them."""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@dataclass
class ReaderTimes:
    """Rates of the same small range query with ``clients`` concurrent clients."""

    clients: int
    seconds: float
    window: int
    client: str
    """What drove the API: ``wrk`` or ``httpx``."""
    api: dict[int, ReaderRate] = field(default_factory=dict)
    """By number of API server processes."""
    raw: ReaderRate | None = None
    redis_benchmark: ReaderRate | None = None


def run_readers(
    ctx: BenchContext, samples: Samples, clients: int, seconds: float, workers: list[int]
) -> ReaderTimes:
    """Load a series, then measure the API with each number of ``workers``, then redis-py."""
    load_series(ctx, KEY, samples)
    start = START_MS + STEP_MS * (len(samples) // 2)
    end = start + STEP_MS * (WINDOW - 1)
    path = f"/v1/series/{KEY}/points?from={start}&to={end}"
    wrk = shutil.which("wrk")
    times = ReaderTimes(clients, seconds, WINDOW, "wrk" if wrk else "httpx")
    for count in workers:
        if count == 1:
            times.api[1] = _api_rate(ctx, ctx.api_url, ctx.api_pid, path, times, wrk)
            continue
        log = ctx.workdir / f"api-{count}-workers.log"
        with running_api(ctx.redis_url, log, workers=count) as server:
            times.api[count] = _api_rate(ctx, server.url, server.pid, path, times, wrk)
    settle(ctx.admin)
    times.raw = asyncio.run(_raw_rate(ctx, start, end, clients, seconds))
    times.redis_benchmark = _redis_benchmark(ctx, start, end, clients)
    return times


def _api_rate(
    ctx: BenchContext, url: str, pid: int | None, path: str, times: ReaderTimes, wrk: str | None
) -> ReaderRate:
    """Check the answer, warm up, then drive ``url + path`` for ``times.seconds``."""
    answer = httpx.get(url + path, timeout=30.0)
    answer.raise_for_status()
    got = len(orjson.loads(answer.content)["points"])
    if got != times.window:
        raise RuntimeError(f"the reader query returned {got} points, expected {times.window}")
    settle(ctx.admin)
    pids = [] if pid is None else [pid, *_children(pid)]
    if wrk is not None:
        wrk_rate(wrk, url + path, times.clients, WARM_UP)
        before, each = _cpu(ctx, pids), process_seconds(pids)
        rate = wrk_rate(wrk, url + path, times.clients, times.seconds)
    else:
        asyncio.run(_httpx_rate(url, path, times.clients, WARM_UP))
        before, each = _cpu(ctx, pids), process_seconds(pids)
        rate = asyncio.run(_httpx_rate(url, path, times.clients, times.seconds))
    rate.cpu = cpu_used(before, _cpu(ctx, pids))
    after = process_seconds(pids)
    rate.process_cpu = [
        round(b - a, 2) for a, b in zip(each, after, strict=True) if a is not None and b is not None
    ]
    return rate


def _cpu(ctx: BenchContext, pids: list[int]) -> dict[str, float]:
    """CPU seconds so far: Redis, this process, and the API's processes together (as "api")."""
    used = cpu_seconds(ctx.admin, None, pids)
    used["api"] = used.pop("workers", 0.0)
    return used


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (uvicorn's server processes when it runs several)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


_WRK_DONE = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m),")
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk_rate(wrk: str, url: str, clients: int, seconds: float) -> ReaderRate:
    """``wrk`` with one thread and ``clients`` connections for ``seconds``."""
    done = subprocess.run(
        [wrk, "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True,
        text=True,
        check=False,
    )
    finished = _WRK_DONE.search(done.stdout)
    if done.returncode != 0 or finished is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stdout}{done.stderr}")
    errors = sum(int(n) for m in _WRK_NON_2XX.finditer(done.stdout) for n in m.groups())
    errors += sum(int(n) for m in _WRK_SOCKET.finditer(done.stdout) for n in m.groups())
    latency = {
        m.group(1): float(m.group(2)) * _SECONDS[m.group(3)] * 1000
        for m in _WRK_PERCENTILE.finditer(done.stdout)
    }
    elapsed = float(finished.group(2)) * _SECONDS[finished.group(3)]
    rate = ReaderRate(int(finished.group(1)), elapsed, errors, latency)
    if errors:
        raise RuntimeError(f"{errors} of the reader requests failed:\n{done.stdout}")
    return rate


async def _httpx_rate(url: str, path: str, clients: int, seconds: float) -> ReaderRate:
    """``clients`` tasks on one httpx ``AsyncClient``, each one request after another."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as http:

        async def reader(deadline: float) -> int:
            count = 0
            while time.perf_counter() < deadline:
                response = await http.get(path)
                response.raise_for_status()
                count += 1
            return count

        started = time.perf_counter()
        counts = await asyncio.gather(*(reader(started + seconds) for _ in range(clients)))
        return ReaderRate(sum(counts), time.perf_counter() - started)


async def _raw_rate(
    ctx: BenchContext, start: int, end: int, clients: int, seconds: float
) -> ReaderRate:
    """``clients`` redis-py tasks looping ``TS.RANGE key start end`` (a warm-up first)."""
    client = Redis.from_url(ctx.redis_url, protocol=3, max_connections=clients)
    try:

        async def reader(deadline: float) -> int:
            count = 0
            while time.perf_counter() < deadline:
                reply = await client.execute_command("TS.RANGE", KEY, start, end)
                if len(reply) != WINDOW:
                    raise RuntimeError(f"TS.RANGE returned {len(reply)} samples")
                count += 1
            return count

        async def run(duration: float) -> ReaderRate:
            started = time.perf_counter()
            counts = await asyncio.gather(*(reader(started + duration) for _ in range(clients)))
            return ReaderRate(sum(counts), time.perf_counter() - started)

        await run(WARM_UP)
        before = cpu_seconds(ctx.admin, None, [])
        rate = await run(seconds)
        rate.cpu = cpu_used(before, cpu_seconds(ctx.admin, None, []))
        return rate
    finally:
        await client.aclose()


def _redis_benchmark(ctx: BenchContext, start: int, end: int, clients: int) -> ReaderRate | None:
    """``redis-benchmark`` of the same TS.RANGE, ``clients`` connections (None if missing)."""
    tool = ctx.redis_cli.with_name("redis-benchmark")
    if not tool.exists():
        return None
    requests = 200_000
    options = ["-p", str(ctx.redis_port), "-c", str(clients), "-n", str(requests), "--csv"]
    done = subprocess.run(
        [str(tool), *options, "TS.RANGE", KEY, str(start), str(end)],
        capture_output=True,
        text=True,
        check=False,
    )
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",...
    rows = [line.strip('"').split('","') for line in done.stdout.splitlines()]
    rows = [row for row in rows if row[0].startswith("TS.RANGE")]
    if done.returncode != 0 or not rows or len(rows[-1]) < 7:
        return None
    row = rows[-1]
    latency = {"50": float(row[4]), "99": float(row[6])}
    return ReaderRate(requests, requests / float(row[1]), latency_ms=latency)
