"""Engine-only timing of the PromQL hot case (no Redis, no HTTP): quick and indicative.

``python -m bench.promql_engine [--series 1000] [--profile]`` builds 1,000 counters x one day
of 15 s samples in memory and times ``sum by (host) (rate(requests_total[5m]))`` at a 60 s
step, plus a histogram_quantile over 100 series and a one-week selector of one series.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

import numpy as np

from promql import Engine, MemorySource, Series

DAY_MS = 86_400_000
T0 = 1_700_000_000_000


def _counters(count: int, span_ms: int, prefix: str = "i") -> list[Series]:
    rng = np.random.default_rng(1)
    t = T0 + np.arange(0, span_ms, 15_000, dtype=np.int64)
    out = []
    for i in range(count):
        v = np.cumsum(rng.poisson(3, len(t))).astype(np.float64)
        labels = {"__name__": "requests_total", "host": f"h{i % 50}", "instance": f"{prefix}{i}"}
        out.append(Series(labels, t + rng.integers(0, 20), v))
    return out


def _histograms(count: int, span_ms: int) -> list[Series]:
    rng = np.random.default_rng(2)
    t = T0 + np.arange(0, span_ms, 15_000, dtype=np.int64)
    out = []
    bounds = ("0.1", "0.5", "1", "5", "+Inf")
    for i in range(count // len(bounds)):
        base = np.cumsum(rng.poisson(2, len(t))).astype(np.float64)
        for k, le in enumerate(bounds):
            labels = {"__name__": "latency_bucket", "job": f"j{i % 4}", "i": str(i), "le": le}
            out.append(Series(labels, t, base * (k + 1)))
    return out


async def _time(engine: Engine, query: str, start: int, end: int, step: int) -> float:
    began = time.perf_counter()
    await engine.range_query(query, start, end, step)
    return time.perf_counter() - began


def main() -> None:
    """Build the data, run each query three times, print the best time."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args()
    source = MemorySource(
        _counters(args.series, DAY_MS) + _histograms(100, DAY_MS) + _counters(1, 7 * DAY_MS, "week")
    )
    engine = Engine(source)
    cases = [
        ("sum by (host) (rate(requests_total[5m]))", T0, T0 + DAY_MS, 60_000),
        (
            "histogram_quantile(0.9, sum by (job, le) (rate(latency_bucket[5m])))",
            T0,
            T0 + DAY_MS,
            60_000,
        ),
        ('requests_total{instance="week0"}', T0, T0 + 7 * DAY_MS, 60_000),
    ]
    for query, start, end, step in cases:
        best = min(asyncio.run(_time(engine, query, start, end, step)) for _ in range(3))
        print(f"{best * 1000:8.1f} ms  {query}")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        asyncio.run(_time(engine, cases[0][0], *cases[0][1:]))
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(18)


if __name__ == "__main__":
    main()
