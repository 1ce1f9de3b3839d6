"""The data set both Prometheus and the engine are queried over (deterministic).

Three hours of 15 s scrapes (a few ms of jitter) from ``BASE_MS``: counters with resets,
gauges (one with a gap longer than the lookback, one stopping with a staleness marker and
coming back), classic histograms (``_bucket``/``_sum``/``_count``, one with buckets that are
not monotonic), series starting and stopping, NaN and ±Inf values, several label dimensions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from promql.model import STALE_NAN, Series

BASE_MS = 1_700_000_000_000
HOURS = 3
INTERVAL_MS = 15_000
STEPS = HOURS * 3600 * 1000 // INTERVAL_MS

BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def _grid(rng: np.random.Generator, start: int = 0, stop: int = STEPS) -> np.ndarray:
    """Scrape times from step ``start`` to ``stop`` with a little jitter, strictly rising."""
    idx = np.arange(start, stop)
    return BASE_MS + idx * INTERVAL_MS + rng.integers(0, 40, len(idx))


def _counter(rng: np.random.Generator, n: int, resets: int, rate: float) -> np.ndarray:
    inc = rng.poisson(rate, n).astype(np.float64)
    values = np.cumsum(inc) + rng.integers(0, 1000)
    for at in sorted(rng.choice(np.arange(10, n - 10), resets, replace=False)):
        values[at:] -= values[at] - rng.integers(0, 5)
    return values


def generate() -> list[Series]:
    """Every series of the data set, samples in time order."""
    rng = np.random.default_rng(20231114)
    out: list[Series] = []

    def add(labels: dict[str, str], t: np.ndarray, v: np.ndarray) -> None:
        out.append(Series(labels, np.asarray(t, np.int64), np.asarray(v, np.float64)))

    # Counters with resets; two start late, one stops with a staleness marker.
    for job in ("api", "web"):
        for instance in ("a:9100", "b:9100", "c:9100"):
            for method in ("GET", "POST"):
                labels = {
                    "__name__": "http_requests_total",
                    "job": job,
                    "instance": instance,
                    "method": method,
                    "code": "200" if method == "GET" else "500",
                }
                start, stop = 0, STEPS
                if instance == "c:9100" and method == "POST":
                    start = STEPS // 3  # starts an hour in
                t = _grid(rng, start, stop)
                v = _counter(rng, len(t), resets=int(rng.integers(0, 3)), rate=3.0)
                if job == "web" and instance == "b:9100" and method == "GET":
                    cut = STEPS // 2
                    t, v = t[:cut], v[:cut]
                    t = np.append(t, t[-1] + INTERVAL_MS)
                    v = np.append(v, STALE_NAN)
                add(labels, t, v)

    # Gauges: random walks over several hosts and zones.
    for host in ("h1", "h2", "h3", "h4"):
        for zone in ("eu", "us"):
            t = _grid(rng)
            v = 20 + np.cumsum(rng.normal(0, 0.5, len(t)))
            labels = {"__name__": "node_temperature_celsius", "host": host, "zone": zone}
            if host == "h2" and zone == "eu":
                gap = (t > BASE_MS + 3_600_000) & (t < BASE_MS + 3_600_000 + 900_000)
                t, v = t[~gap], v[~gap]  # 15 minutes without samples
            if host == "h3" and zone == "us":
                mid = STEPS // 2
                v = v.copy()
                v[mid] = STALE_NAN  # goes stale, then a gap, then comes back
                keep = (np.arange(len(t)) <= mid) | (np.arange(len(t)) > mid + 40)
                t, v = t[keep], v[keep]
            add(labels, t, v)

    # Integer gauges with repeats (changes, count_values, resets of gauges).
    for queue in ("q1", "q2", "q3"):
        t = _grid(rng)
        add({"__name__": "queue_length", "queue": queue}, t, rng.integers(0, 6, len(t)))

    # up: 0/1; one instance flaps.
    for instance in ("a:9100", "b:9100", "c:9100"):
        t = _grid(rng)
        v = np.ones(len(t))
        if instance == "b:9100":
            v[(np.arange(len(t)) // 40) % 3 == 1] = 0
        add({"__name__": "up", "job": "node", "instance": instance}, t, v)

    # Classic histograms: cumulative bucket counters, _sum and _count.
    for job in ("api", "web"):
        for instance in ("a:9100", "b:9100"):
            t = _grid(rng)
            n = len(t)
            obs = rng.poisson(5, n)
            sums = np.zeros(n)
            cumulative = np.zeros((len(BUCKETS), n))
            for i in range(n):
                samples = rng.lognormal(-1.5, 1.0, obs[i])
                sums[i] = samples.sum()
                for b, bound in enumerate(BUCKETS):
                    cumulative[b, i] = (samples <= float(bound)).sum()
            counts = np.cumsum(cumulative, axis=1)
            base = {"job": job, "instance": instance}
            for b, bound in enumerate(BUCKETS):
                labels = {"__name__": "request_duration_seconds_bucket", **base, "le": bound}
                add(labels, t, counts[b])
            add({"__name__": "request_duration_seconds_sum", **base}, t, np.cumsum(sums))
            add({"__name__": "request_duration_seconds_count", **base}, t, counts[-1])

    # A histogram whose buckets are not monotonic at times (scraped at different moments),
    # one without a +Inf bucket, one with duplicate bounds spelled differently.
    t = _grid(rng)
    n = len(t)
    for bound, scale in (("0.1", 1.0), ("0.5", 0.9), ("1", 1.6), ("+Inf", 2.0)):
        v = np.floor(np.arange(n) * scale + rng.integers(0, 3, n))
        add({"__name__": "skewed_bucket", "le": bound}, t, v)
    for bound, scale in (("1", 1.0), ("2", 2.0)):
        add({"__name__": "noinf_bucket", "le": bound}, t, np.arange(n) * scale)
    for bound, scale in (("1", 1.0), ("1.0", 0.5), ("+Inf", 3.0)):
        add({"__name__": "dupbound_bucket", "le": bound}, t, np.arange(n) * scale)

    # Odd values: NaN (not stale), ±Inf, a constant, a negative gauge.
    t = _grid(rng)
    v = rng.normal(0, 1, len(t))
    v[::17] = np.nan
    add({"__name__": "odd_values", "kind": "nan"}, t, v)
    t = _grid(rng)
    v = rng.normal(0, 1, len(t))
    v[::23] = np.inf
    v[5::29] = -np.inf
    add({"__name__": "odd_values", "kind": "inf"}, t, v)
    t = _grid(rng)
    add({"__name__": "constant_value", "kind": "const"}, t, np.full(len(t), 0.1))
    t = _grid(rng)
    add({"__name__": "negative_gauge", "kind": "neg"}, t, -np.abs(rng.normal(50, 20, len(t))))

    # Same labels but the metric name: dropping names collides (Prometheus' error).
    for name in ("twin_a", "twin_b"):
        t = _grid(rng)
        add({"__name__": name, "pair": "x"}, t, rng.normal(10, 1, len(t)))

    # A short-lived series: 10 minutes in the middle, nothing around it.
    t = _grid(rng, STEPS // 2, STEPS // 2 + 40)
    add({"__name__": "short_lived", "job": "batch"}, t, np.arange(len(t), dtype=np.float64))
    return out


def time_batches(
    series: list[Series], window_ms: int = 600_000
) -> Iterator[list[tuple[dict[str, str], np.ndarray, np.ndarray]]]:
    """The samples cut into windows of time across all series (Prometheus wants them in
    time order: its head refuses samples much older than the newest one)."""
    start = min(int(s.t[0]) for s in series if len(s.t))
    end = max(int(s.t[-1]) for s in series if len(s.t))
    for lo in range(start, end + 1, window_ms):
        hi = lo + window_ms
        batch = []
        for s in series:
            a, b = np.searchsorted(s.t, [lo, hi], "left")
            if b > a:
                batch.append((s.labels, s.t[a:b], s.v[a:b]))
        yield batch
