"""Raw range rows: every sample of a large series through the API (JSON and CSV) vs
TS.RANGE through redis-py, and how much the API process's memory grows meanwhile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from bench.aggregate import load_series
from bench.context import BenchContext
from bench.cpu import cpu_seconds, cpu_used
from bench.data import Samples
from bench.memory import RssPeak, sampled_rss
from bench.servers import running_api
from bench.stats import stopwatch

__all__ = ["FORMATS", "FormatTimes", "RawRangeTimes", "run_raw_range"]

KEY = "bench:raw-range"
PATH = f"/v1/series/{KEY}/points?from=-&to=%2B"
FORMATS = {"JSON": PATH, "CSV": f"{PATH}&format=csv"}


@dataclass
class FormatTimes:
    """One API format: seconds per query, the body's size, the API's RSS growth and CPU."""

    body_bytes: int = 0
    seconds: list[float] = field(default_factory=list)
    rss_growth: list[int | None] = field(default_factory=list)
    """Bytes the (warm) API process's resident memory rose above what it was before each
    timed query: near zero once earlier queries have left their memory to the allocator."""
    rss_peak: list[int | None] = field(default_factory=list)
    """Its highest resident memory during each timed query, in bytes."""
    cpu: list[dict[str, float]] = field(default_factory=list)
    fresh: RssPeak | None = None
    """A new ``tsapi serve`` answering this query once (after one small query): its
    resident memory before and at its highest, which is what one such read costs."""


@dataclass
class RawRangeTimes:
    """Seconds per query over ``points`` samples: each API format, and TS.RANGE itself."""

    points: int
    api: dict[str, FormatTimes]
    raw: list[float] = field(default_factory=list)
    raw_cpu: list[dict[str, float]] = field(default_factory=list)


def run_raw_range(ctx: BenchContext, samples: Samples, runs: int) -> RawRangeTimes:
    """Load the series, check every way returns all of it, then time ``runs`` rounds.

    A round is JSON, raw, CSV, raw; so there are twice as many raw queries as of
    each format.
    """
    load_series(ctx, KEY, samples)
    times = RawRangeTimes(len(samples), {name: FormatTimes() for name in FORMATS})
    asyncio.run(_time_queries(ctx, times, runs))
    for name, path in FORMATS.items():
        times.api[name].fresh = _fresh_process_rss(ctx, path)
    return times


def _fresh_process_rss(ctx: BenchContext, path: str) -> RssPeak:
    """Start a new API process, ask it a small query, then sample its RSS during ``path``."""
    log = ctx.workdir / "api-memory.log"
    with running_api(ctx.redis_url, log) as server, httpx.Client(timeout=300.0) as http:
        http.get(f"{server.url}{PATH}&count=10").raise_for_status()
        with sampled_rss(server.pid) as rss:
            response = http.get(f"{server.url}{path}")
        response.raise_for_status()
    return rss


async def _time_queries(ctx: BenchContext, times: RawRangeTimes, runs: int) -> None:
    async with httpx.AsyncClient(base_url=ctx.api_url, timeout=300.0) as http:
        client = Redis.from_url(ctx.redis_url, protocol=3)
        try:
            for name, path in FORMATS.items():  # warm-up, and the answers are complete
                body = await _api_query(http, path)
                times.api[name].body_bytes = len(body)
                _check_body(name, body, times.points)
            reply = await _raw_query(client)
            if len(reply) != times.points:
                raise RuntimeError(f"TS.RANGE returned {len(reply)} of {times.points} samples")
            del body, reply
            for _ in range(runs):
                for name, path in FORMATS.items():
                    await _time_api(ctx, http, path, times.api[name])
                    await _time_raw(ctx, client, times)
        finally:
            await client.aclose()


async def _time_api(
    ctx: BenchContext, http: httpx.AsyncClient, path: str, into: FormatTimes
) -> None:
    before = cpu_seconds(ctx.admin, ctx.api_pid, [])
    with sampled_rss(ctx.api_pid) as rss, stopwatch() as watch:
        await _api_query(http, path)
    into.cpu.append(cpu_used(before, cpu_seconds(ctx.admin, ctx.api_pid, [])))
    into.seconds.append(watch.seconds)
    into.rss_growth.append(rss.growth)
    into.rss_peak.append(rss.peak)


async def _time_raw(ctx: BenchContext, client: Redis, times: RawRangeTimes) -> None:
    before = cpu_seconds(ctx.admin, ctx.api_pid, [])
    with stopwatch() as watch:
        await _raw_query(client)
    times.raw_cpu.append(cpu_used(before, cpu_seconds(ctx.admin, ctx.api_pid, [])))
    times.raw.append(watch.seconds)


async def _api_query(http: httpx.AsyncClient, path: str) -> bytes:
    """``GET`` the whole range; the body is read in full (parsed only outside the timing)."""
    response = await http.get(path)
    response.raise_for_status()
    return response.content


async def _raw_query(client: Redis) -> Any:
    """``TS.RANGE key - +`` through redis-py (RESP3, hiredis): every sample as Python values."""
    return await client.execute_command("TS.RANGE", KEY, "-", "+")


def _check_body(name: str, body: bytes, points: int) -> None:
    header = 1 if name == "CSV" else 0
    count = body.count(b"\n") - header if header else len(orjson.loads(body)["points"])
    if count != points:
        raise RuntimeError(f"the API's {name} answer holds {count} of {points} samples")
