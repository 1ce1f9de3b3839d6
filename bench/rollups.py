"""Rollup tier rows: a year of per-second data read through tiers vs raw samples, the web UI's
four-series year view, the backfill of three tiers, what the tiers cost in memory, and
ingest with tiers on every series vs without.

Every ratio is measured in one run: the tiered and the raw figure of a row come from the same
server, the same data, alternating queries. The tiered and raw answers of the read rows are
compared (same buckets, values equal to 1e-9 of the values' scale) before anything is timed.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson

from bench.context import BenchContext
from bench.data import Grid, Samples, json_columnar, make_samples
from bench.raw import PipeError, settle, total_samples
from bench.servers import running_workers
from bench.stats import stopwatch
from tsdb.bulk import Batch
from tsdb.models import Aggregation
from tsdb.resp import encode_samples
from tsdb.rollups.models import Tier
from tsdb.rollups.plan import friendly_bucket

__all__ = ["TIERS", "YEAR", "RollupTimes", "run_rollups"]

YEAR = 365 * 86_400
"""Samples in a year of one sample a second."""
TIERS = [
    {"bucket": "1m", "retention": "90d"},
    {"bucket": "1h", "retention": "730d"},
    {"bucket": "1d"},
]
"""The issue's example: one-minute buckets kept 90 days, hourly ones two years, daily ones."""
TIER_BUCKETS = [Tier(60_000, 90 * 86_400_000), Tier(3_600_000, 730 * 86_400_000), Tier(86_400_000)]
KEYS = [f"bench:year:{i}" for i in range(1, 5)]
MAX_POINTS = 2_000
UI_PIXELS = 830
"""The explorer's plot width on a 1440-pixel window, less its axis."""
NICE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5]
NICE += [9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5]
INGEST_SERIES = 10
INGEST_POINTS = 1_000_000
MADD_SAMPLES = 1_000


@dataclass
class RollupTimes:
    """Every rollup timing (seconds) and size (bytes)."""

    points: int
    load_seconds: float = 0.0
    backfill_seconds: float = 0.0
    """One series' three tiers: from ``PUT .../rollups`` to the job seen finished."""
    backfill_run_seconds: float = 0.0
    """The same job's own run time on the worker (started_at to ended_at)."""
    backfill_steps: int = 0
    raw_memory: int = 0
    tier_memory: dict[str, int] = field(default_factory=dict)
    view_bucket_ms: int = 0
    view_buckets: int = 0
    view_tiers: list[str] = field(default_factory=list)
    view_max_rel_diff: float = 0.0
    view: list[float] = field(default_factory=list)
    view_raw: list[float] = field(default_factory=list)
    ui_bucket_ms: int = 0
    ui_buckets: int = 0
    ui_tiers: list[str] = field(default_factory=list)
    ui: list[float] = field(default_factory=list)
    ui_raw: list[float] = field(default_factory=list)
    ingest_points: int = 0
    ingest_series: int = 0
    ingest_plain: list[float] = field(default_factory=list)
    ingest_tiered: list[float] = field(default_factory=list)
    load_average: list[list[float]] = field(default_factory=list)


def run_rollups(
    ctx: BenchContext, points: int, runs: int, ui_runs: int, ingest_runs: int
) -> RollupTimes:
    """Load a year into four series, backfill their tiers, time the reads and the ingests."""
    times = RollupTimes(points=points)
    times.load_average.append(_load())
    with stopwatch() as watch:
        _load_year(ctx, KEYS[0], make_samples(points))
        for key in KEYS[1:]:
            _copy(ctx, KEYS[0], key)
    times.load_seconds = watch.seconds
    with (
        httpx.Client(base_url=ctx.api_url, timeout=600.0) as http,
        running_workers(ctx.redis_url, 1, ctx.workdir, name="rollup-worker"),
    ):
        _backfill(ctx, http, times)
        for key in KEYS[1:]:  # the others, for the four-series view (not timed)
            _wait_job(http, _put_tiers(http, key))
        settle(ctx.admin)
        shown = http.get(f"/v1/series/{KEYS[0]}/rollups").json()
        times.raw_memory = int(shown["raw"]["memory_bytes"])
        times.tier_memory = {t["bucket"]: int(t["memory_bytes"]) for t in shown["tiers"]}
        times.load_average.append(_load())
        _time_view(ctx, http, times, runs)
        times.load_average.append(_load())
        asyncio.run(_time_ui(ctx, times, ui_runs))
        times.load_average.append(_load())
        _time_ingest(ctx, http, times, ingest_runs)
        times.load_average.append(_load())
    return times


def _load() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# -- data -------------------------------------------------------------------------------------


def _load_year(ctx: BenchContext, key: str, samples: Samples) -> None:
    """``redis-cli --pipe`` of TS.MADD commands streamed as they are encoded (not timed)."""
    ctx.admin.execute_command(
        "TS.CREATE", key, "DUPLICATE_POLICY", "LAST", "LABELS", "bench", "year"
    )
    process = subprocess.Popen(
        [str(ctx.redis_cli), "-p", str(ctx.redis_port), "--pipe"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdin is not None
    try:
        for chunk in _madd_commands(key, samples):
            process.stdin.write(chunk)
    finally:
        process.stdin.close()
    output = process.stdout.read() if process.stdout else b""
    if process.wait() != 0 or b"errors: 0," not in output:
        raise PipeError(f"redis-cli --pipe failed: {output.decode(errors='replace')[-500:]}")
    stored = total_samples(ctx.admin, key)
    if stored != len(samples):
        raise RuntimeError(f"{key} holds {stored} samples, expected {len(samples)}")


def _madd_commands(key: str, samples: Samples, chunk: int = 500_000) -> Iterator[bytes]:
    """TS.MADD commands of :data:`MADD_SAMPLES` samples, RESP-encoded a chunk at a time with
    the bulk writer's vectorized encoder."""
    for start in range(0, len(samples), chunk):
        ts = samples.timestamps[start : start + chunk]
        vs = samples.values[start : start + chunk]
        n = len(ts)
        batch = Batch([key], np.zeros(n, dtype=np.int64), ts, vs, np.arange(n, dtype=np.int64))
        body, offsets = encode_samples(batch, 0, n)
        parts: list[bytes] = []
        for first in range(0, n, MADD_SAMPLES):
            last = min(first + MADD_SAMPLES, n)
            parts.append(f"*{1 + 3 * (last - first)}\r\n$7\r\nTS.MADD\r\n".encode())
            parts.append(bytes(body[offsets[first] : offsets[last]]))
        yield b"".join(parts)


def _copy(ctx: BenchContext, source: str, dest: str) -> None:
    """Another series with the same samples (DUMP/RESTORE: the module copies its chunks)."""
    payload = ctx.admin.dump(source)
    if payload is None:
        raise RuntimeError(f"{source} is gone")
    ctx.admin.restore(dest, 0, payload, replace=True)


# -- backfill and memory ------------------------------------------------------------------------


def _put_tiers(http: httpx.Client, key: str) -> str:
    response = http.put(f"/v1/series/{key}/rollups", json={"tiers": TIERS})
    response.raise_for_status()
    job = response.json()["backfill_job"]
    if not job:
        raise RuntimeError(f"PUT {key}/rollups queued no backfill")
    return str(job)


def _wait_job(http: httpx.Client, job_id: str, poll: float = 0.05) -> dict[str, Any]:
    while True:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == "finished":
            return job
        if job["status"] in ("failed", "canceled"):
            raise RuntimeError(f"backfill job {job_id} {job['status']}: {job.get('error')}")
        time.sleep(poll)


def _backfill(ctx: BenchContext, http: httpx.Client, times: RollupTimes) -> None:
    settle(ctx.admin)
    with stopwatch() as watch:
        job = _wait_job(http, _put_tiers(http, KEYS[0]))
    times.backfill_seconds = watch.seconds
    times.backfill_run_seconds = (job["ended_at"] - job["started_at"]) / 1000


# -- reads ------------------------------------------------------------------------------------


def _close(tiered: list[list[float]], raw: list[list[float]]) -> float:
    """The largest relative difference between two answers with the same buckets."""
    if [p[0] for p in tiered] != [p[0] for p in raw]:
        raise RuntimeError(
            f"tiered and raw answers have different buckets ({len(tiered)}, {len(raw)})"
        )
    a = np.array([np.nan if p[1] is None else p[1] for p in tiered])
    b = np.array([np.nan if p[1] is None else p[1] for p in raw])
    scale = max(1.0, float(np.nanmax(np.abs(b)))) if len(b) else 1.0
    diff = np.abs(a - b)
    worst = float(np.nanmax(diff)) / scale if len(diff) else 0.0
    if worst > 1e-9 or not np.array_equal(np.isnan(a), np.isnan(b)):
        raise RuntimeError(f"tiered and raw answers differ by {worst:.3g} of their scale")
    return worst


def _time_view(ctx: BenchContext, http: httpx.Client, times: RollupTimes, runs: int) -> None:
    """``max_points=2000`` over the whole year, and the same buckets with ``tier=raw``."""
    info = http.get(f"/v1/series/{KEYS[0]}").json()
    low, high = info["first_timestamp"], info["last_timestamp"]
    tiered_path = f"/v1/series/{KEYS[0]}/points?max_points={MAX_POINTS}"
    first = http.get(tiered_path).json()
    planned = friendly_bucket(TIER_BUCKETS, low, high, MAX_POINTS, Aggregation.AVG)
    assert planned is not None
    bucket, align = planned
    if first["bucket_ms"] != bucket:
        raise RuntimeError(f"the API chose {first['bucket_ms']} ms buckets, expected {bucket}")
    raw_path = (
        f"/v1/series/{KEYS[0]}/points?agg=avg&bucket={bucket}&align={align}"
        f"&from={low}&to={high}&tier=raw"
    )
    raw = http.get(raw_path).json()
    times.view_bucket_ms, times.view_buckets = bucket, len(first["points"])
    times.view_tiers = first["tiers"]
    times.view_max_rel_diff = _close(first["points"], raw["points"])
    settle(ctx.admin)
    for _ in range(runs):
        with stopwatch() as watch:
            http.get(tiered_path).raise_for_status()
        times.view.append(watch.seconds)
        with stopwatch() as watch:
            http.get(raw_path).raise_for_status()
        times.view_raw.append(watch.seconds)


def _nice(ms: float) -> int:
    """The web UI's ``niceBucket`` (api/static/util.js)."""
    for i, n in enumerate(NICE):
        if n >= ms:
            if i > 0 and ms / NICE[i - 1] < n / ms:
                return int(NICE[i - 1])
            return int(n)
    return int(round(ms / 864e5) * 864e5)


async def _time_ui(ctx: BenchContext, times: RollupTimes, runs: int) -> None:
    """The explorer's year view of four series: the series page's padded range, one request
    per series at once (as the browser sends them), all four bodies read."""
    async with httpx.AsyncClient(base_url=ctx.api_url, timeout=600.0) as http:
        info = (await http.get(f"/v1/series/{KEYS[0]}")).json()
        first, last = info["first_timestamp"], info["last_timestamp"]
        pad = max(60_000, (last - first) * 0.02)
        x0, x1 = first - pad, last + pad
        span = x1 - x0
        bucket = _nice(span / UI_PIXELS)
        start, end = max(0, math.floor(x0 - span / 2)), math.ceil(x1 + span / 2)
        query = f"from={start}&to={end}&agg=avg&bucket={bucket}&bucket_timestamp=mid"

        async def view(tier: str) -> tuple[float, list[dict[str, Any]]]:
            with stopwatch() as watch:
                responses = await asyncio.gather(
                    *(http.get(f"/v1/series/{k}/points?{query}{tier}") for k in KEYS)
                )
            return watch.seconds, [orjson.loads(r.content) for r in responses]

        _, tiered = await view("")
        _, raw = await view("&tier=raw")
        for mine, theirs in zip(tiered, raw, strict=True):
            _close(mine["points"], theirs["points"])
        times.ui_bucket_ms, times.ui_buckets = bucket, sum(len(s["points"]) for s in tiered)
        times.ui_tiers = sorted({t for s in tiered for t in s["tiers"]})
        settle(ctx.admin)
        for i in range(runs):
            times.ui.append((await view(""))[0])
            if i < max(1, runs // 3):  # the raw view takes seconds: a few are enough
                times.ui_raw.append((await view("&tier=raw"))[0])


# -- ingest -----------------------------------------------------------------------------------


def _time_ingest(ctx: BenchContext, http: httpx.Client, times: RollupTimes, runs: int) -> None:
    """``POST /v1/points?create=true`` of columnar JSON into new series, alternating: series
    a policy gives the three tiers (filled by the write itself) and series without."""
    policy = {"name": "bench", "filter": ["tiered=yes"], "tiers": TIERS}
    http.put("/v1/rollups", json={"policies": [policy]}).raise_for_status()
    samples = make_samples(INGEST_POINTS)
    times.ingest_points, times.ingest_series = INGEST_POINTS, INGEST_SERIES
    for run in range(runs):
        for tiered in (False, True):
            label = "yes" if tiered else "no"
            keys = [f"bench:ingest:{label}:{run}:{i}" for i in range(INGEST_SERIES)]
            grid = Grid.of(samples, keys)
            body = json_columnar(grid)
            settle(ctx.admin)
            with stopwatch() as watch:
                response = http.post(
                    f"/v1/points?create=true&label=tiered={label}",
                    content=body,
                    headers={"content-type": "application/json"},
                )
            if response.status_code != 200 or response.json()["written"] != len(grid):
                raise RuntimeError(f"ingest answered {response.status_code} {response.text[:300]}")
            (times.ingest_tiered if tiered else times.ingest_plain).append(watch.seconds)
            if tiered:
                shown = http.get(f"/v1/series/{keys[0]}/rollups").json()
                if shown["pending"] or shown["tiers"][0]["covers"] is None:
                    raise RuntimeError(f"the write did not fill the tiers of {keys[0]}: {shown}")
