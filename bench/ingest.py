"""Row 1: write one large batch through the API vs ``redis-cli --pipe`` of TS.MADD."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.context import BenchContext
from bench.data import Samples, points_json, write_madd_file
from bench.raw import create_series, pipe_file, settle, total_samples
from bench.stats import stopwatch

__all__ = ["IngestTimes", "run_ingest"]

MADD_SAMPLES = 1_000
"""Samples per TS.MADD command in the raw load."""


@dataclass
class IngestTimes:
    """Seconds per run; every run writes all the points into a series of its own."""

    points: int
    api: list[float]
    raw: list[float]


def run_ingest(ctx: BenchContext, samples: Samples, runs: int) -> IngestTimes:
    """Alternate API and raw runs, each into a new series, after Redis has settled."""
    body = points_json(samples)
    times = IngestTimes(points=len(samples), api=[], raw=[])
    with httpx.Client(base_url=ctx.api_url, timeout=300.0) as http:
        for run in range(1, runs + 1):
            times.api.append(_api_run(ctx, http, f"bench:ingest:api:{run}", body, len(samples)))
            times.raw.append(_raw_run(ctx, f"bench:ingest:raw:{run}", samples))
    return times


def _api_run(ctx: BenchContext, http: httpx.Client, key: str, body: bytes, count: int) -> float:
    """Create ``key`` through the API, then time ``POST /v1/series/{key}/points``."""
    created = http.post("/v1/series", json={"key": key, "labels": {"bench": "1"}})
    created.raise_for_status()
    settle(ctx.admin)
    headers = {"content-type": "application/json"}
    with stopwatch() as watch:
        response = http.post(f"/v1/series/{key}/points", content=body, headers=headers)
    response.raise_for_status()
    written = response.json().get("written")
    if written != count:
        raise RuntimeError(f"the API wrote {written} of {count} points into {key}")
    _check_count(ctx, key, count)
    return watch.seconds


def _raw_run(ctx: BenchContext, key: str, samples: Samples) -> float:
    """Create ``key`` and prepare the RESP file, then time ``redis-cli --pipe`` of it."""
    path = ctx.workdir / f"{key.replace(':', '-')}.resp"
    commands = write_madd_file(path, key, samples, MADD_SAMPLES)
    create_series(ctx.admin, key)
    settle(ctx.admin)
    with stopwatch() as watch:
        replies = pipe_file(ctx.redis_cli, ctx.redis_port, path)
    path.unlink()
    if replies != commands:
        raise RuntimeError(f"redis-cli --pipe got {replies} replies to {commands} commands")
    _check_count(ctx, key, len(samples))
    return watch.seconds


def _check_count(ctx: BenchContext, key: str, count: int) -> None:
    stored = total_samples(ctx.admin, key)
    if stored != count:
        raise RuntimeError(f"{key} holds {stored} samples, expected {count}")
