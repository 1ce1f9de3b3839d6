"""Row 2: one aggregated range over a large series, through the API vs TS.RANGE directly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from bench.context import BenchContext
from bench.data import Samples, write_madd_file
from bench.raw import create_series, pipe_file, settle, total_samples
from bench.stats import stopwatch

__all__ = ["BUCKETS", "RangeTimes", "load_series", "run_range"]

BUCKETS = 1_000
"""The bucket is the series' span divided by this (so about this many buckets come back)."""
KEY = "bench:range"


@dataclass
class RangeTimes:
    """Seconds per query (after one warm-up query each) over ``points`` samples."""

    points: int
    bucket_ms: int
    buckets: int
    api: list[float]
    raw: list[float]


def run_range(ctx: BenchContext, samples: Samples, runs: int) -> RangeTimes:
    """Load the series, then time the same ``avg`` aggregation both ways, alternating."""
    load_series(ctx, KEY, samples)
    bucket_ms = max(1, samples.span_ms // BUCKETS)
    api, raw, buckets = asyncio.run(_time_queries(ctx, KEY, bucket_ms, runs))
    return RangeTimes(len(samples), bucket_ms, buckets, api, raw)


def load_series(ctx: BenchContext, key: str, samples: Samples) -> None:
    """Fill a new series with ``redis-cli --pipe`` of TS.MADD (fast; not timed)."""
    path = ctx.workdir / "range.resp"
    write_madd_file(path, key, samples)
    create_series(ctx.admin, key)
    try:
        pipe_file(ctx.redis_cli, ctx.redis_port, path)
    finally:
        path.unlink()
    stored = total_samples(ctx.admin, key)
    if stored != len(samples):
        raise RuntimeError(f"{key} holds {stored} samples, expected {len(samples)}")
    settle(ctx.admin)


async def _time_queries(
    ctx: BenchContext, key: str, bucket_ms: int, runs: int
) -> tuple[list[float], list[float], int]:
    """Warm both paths up, check they agree, then time ``runs`` queries of each."""
    path = f"/v1/series/{key}/points?from=-&to=%2B&agg=avg&bucket={bucket_ms}"
    api: list[float] = []
    raw: list[float] = []
    async with httpx.AsyncClient(base_url=ctx.api_url, timeout=120.0) as http:
        client = Redis.from_url(ctx.redis_url, protocol=3)
        try:
            api_body = await _api_query(http, path)
            raw_reply = await _raw_query(client, key, bucket_ms)
            buckets = _check_same(api_body, raw_reply)
            for _ in range(runs):
                with stopwatch() as watch:
                    await _api_query(http, path)
                api.append(watch.seconds)
                with stopwatch() as watch:
                    await _raw_query(client, key, bucket_ms)
                raw.append(watch.seconds)
        finally:
            await client.aclose()
    return api, raw, buckets


async def _api_query(http: httpx.AsyncClient, path: str) -> bytes:
    """``GET`` the range; the body is read in full (it is parsed only outside the timing)."""
    response = await http.get(path)
    response.raise_for_status()
    return response.content


async def _raw_query(client: Redis, key: str, bucket_ms: int) -> Any:
    """``TS.RANGE key - + AGGREGATION avg bucket`` through redis-py (RESP3, hiredis)."""
    return await client.execute_command("TS.RANGE", key, "-", "+", "AGGREGATION", "avg", bucket_ms)


def _check_same(api_body: bytes, raw_reply: Any) -> int:
    """Both answers have the same buckets; return how many."""
    points = orjson.loads(api_body)["points"]
    if len(points) != len(raw_reply) or points[0][0] != raw_reply[0][0]:
        raise RuntimeError(
            f"the API returned {len(points)} buckets, TS.RANGE {len(raw_reply)}: not the same query"
        )
    return len(points)
