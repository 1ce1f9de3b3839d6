"""The Prometheus-compatible API against a real Prometheus holding the same data, same run.

``python -m bench.prometheus [--runs 5] [--profile]`` starts an embedded Redis Stack,
``tsapi serve`` and Debian's ``prometheus`` (2.42, ``--web.enable-remote-write-receiver``,
temp storage), remote-writes the same samples into both (timed: the ingest row), waits until
the machine is idle again (what the ingests left running in the background), then times
over HTTP, tsapi and Prometheus in turns, median of ``--runs`` each:

- ``sum by (host) (rate(requests_total[5m]))``: 1,000 counters, one day at 15 s, 60 s step;
- ``histogram_quantile(0.9, sum by (le) (rate(latency_bucket[5m])))``: 100 bucket series,
  one day at 15 s, 60 s step;
- ``gauge_one[7d]``: a plain selector of one series over a week of 15 s samples (an instant
  query of the range: a range query at a 15 s step over a week would pass the 11,000-point
  limit).

Ingest is timed twice: one stream of bodies in time order (into ``tsapi serve`` with one
process), and, on fresh servers, the way Prometheus' own remote-write client sends live
data: the series split into :data:`SHARDS` shards by a hash of their labels, and window
after window the shards' bodies at once (into ``tsapi serve`` with its default two
processes).

Targets: tsapi's latency at most 2 times Prometheus', ingest at least half Prometheus' samples/s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np

from bench.servers import free_port, running_api, running_redis
from promql.remote_write import encode_write_request

__all__ = ["format_prometheus_table", "main", "prometheus_json", "run_prometheus"]

T0 = 1_700_000_000_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
SCRAPE_MS = 15_000
WINDOW_MS = 600_000
SHARDS = 4
"""Remote-write shards of the concurrent ingest row (Prometheus' sender starts with one and
grows to ``max_shards``, 50 by default, while it falls behind)."""
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}

Series = tuple[dict[str, str], np.ndarray, np.ndarray]


def _data(counters: int = 1000, histograms: int = 100) -> tuple[list[Series], list[Series]]:
    """(the week of one gauge, the last day of counters and buckets)."""
    rng = np.random.default_rng(7)
    week = T0 + np.arange(0, WEEK_MS, SCRAPE_MS, dtype=np.int64)
    gauge = [({"__name__": "gauge_one", "host": "h0"}, week, rng.normal(20, 1, len(week)))]
    t = T0 + WEEK_MS - DAY_MS + np.arange(0, DAY_MS, SCRAPE_MS, dtype=np.int64)
    day: list[Series] = []
    for i in range(counters):
        labels = {"__name__": "requests_total", "host": f"h{i % 50}", "instance": f"i{i}"}
        day.append((labels, t, np.cumsum(rng.poisson(3, len(t))).astype(np.float64)))
    bounds = ("0.1", "0.5", "1", "5", "+Inf")
    for i in range(histograms // len(bounds)):
        base = np.cumsum(rng.poisson(2, len(t))).astype(np.float64)
        for k, le in enumerate(bounds):
            labels = {"__name__": "latency_bucket", "job": f"j{i % 4}", "i": str(i), "le": le}
            day.append((labels, t, base * (k + 1)))
    return gauge, day


def _bodies(series: list[Series]) -> list[bytes]:
    """Remote-write bodies of 10-minute windows across all series, in time order."""
    bodies = (_window_body(series, lo) for lo in _windows(series))
    return [body for body in bodies if body is not None]


def _windows(series: list[Series]) -> range:
    """The starts of the 10-minute windows that cover every series."""
    start = min(int(t[0]) for _, t, _ in series)
    end = max(int(t[-1]) for _, t, _ in series)
    return range(start, end + 1, WINDOW_MS)


def _window_body(series: list[Series], lo: int) -> bytes | None:
    """The remote-write body of the samples of ``series`` in the window from ``lo`` (None:
    there are none)."""
    batch = []
    for labels, t, v in series:
        a, b = np.searchsorted(t, [lo, lo + WINDOW_MS])
        if b > a:
            batch.append((labels, t[a:b], v[a:b]))
    return encode_write_request(batch) if batch else None  # type: ignore[arg-type]


@contextmanager
def _prometheus(root: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed (infra/provision.sh installs it)")
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("prometheus did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _ingest(http: httpx.Client, url: str, bodies: list[bytes]) -> float:
    began = time.perf_counter()
    for body in bodies:
        response = http.post(f"{url}/api/v1/write", content=body, headers=HEADERS)
        if response.status_code != 204:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
    return time.perf_counter() - began


def _shards(series: list[Series], count: int) -> list[list[bytes]]:
    """Per 10-minute window (in time order), the body of each shard that has samples in it:
    series are assigned to shards by a hash of their labels, as Prometheus' remote-write
    client does, so that a series' samples stay in order within its shard."""
    groups: list[list[Series]] = [[] for _ in range(count)]
    for item in series:
        text = ",".join(f"{k}={v}" for k, v in sorted(item[0].items()))
        groups[zlib.crc32(text.encode()) % count].append(item)
    windows: list[list[bytes]] = []
    for lo in _windows(series):
        bodies = (_window_body(group, lo) for group in groups if group)
        windows.append([body for body in bodies if body is not None])
    return windows


def _ingest_sharded(url: str, windows: list[list[bytes]]) -> float:
    """Window after window, the shards' bodies at once (each on its own connection), as a
    sender keeping up with live data does; the wall time."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def post(body: bytes) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=300)
            clients.append(local.http)
        response = local.http.post(f"{url}/api/v1/write", content=body, headers=HEADERS)
        if response.status_code != 204:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")

    try:
        with ThreadPoolExecutor(SHARDS) as pool:
            began = time.perf_counter()
            for bodies in windows:
                list(pool.map(post, bodies))
            return time.perf_counter() - began
    finally:
        for http in clients:
            http.close()


def _sharded_row(series: list[Series], samples: int) -> PromRow:
    """The concurrent ingest row, on fresh servers (tsapi with its default two processes)."""
    shards = _shards(series, SHARDS)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        root = Path(scratch)
        redis = stack.enter_context(running_redis(root / "redis"))
        api = stack.enter_context(running_api(redis.url, root / "api.log", workers=2))
        prom = stack.enter_context(_prometheus(root))
        ours = _ingest_sharded(api.url, shards)
        theirs = _ingest_sharded(prom, shards)
    return (
        f"remote-write ingest, {samples / 1e6:.1f} M samples, {SHARDS} shards at once "
        "(as Prometheus sends; tsapi serve's default 2 processes)",
        "samples/s",
        samples / ours,
        samples / theirs,
        True,
    )


def _query(http: httpx.Client, url: str, path: str, params: dict[str, str]) -> float:
    """One query's wall time (seconds); exits when it did not succeed."""
    began = time.perf_counter()
    response = http.get(f"{url}/api/v1/{path}", params=params)
    took = time.perf_counter() - began
    body = response.json()
    if body.get("status") != "success" or not body["data"]["result"]:
        raise SystemExit(f"{url} {params['query']}: {str(body)[:300]}")
    return took


def _busy_share() -> float:
    """The share of the machine's CPU time spent busy over the next second (/proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields) - fields[3] - fields[4], sum(fields)  # all but idle and iowait

    busy0, total0 = sample()
    time.sleep(1)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(total1 - total0, 1)


def _settle(limit_s: float = 60.0) -> None:
    """Wait (up to ``limit_s``) until the machine is idle: what an ingest leaves running in
    the background (Redis was rewriting its AOF right after it) would otherwise land in
    whichever queries come first."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and _busy_share() > 0.05:
        pass


PromRow = tuple[str, str, float, float, bool]  # work, unit, tsapi, Prometheus, higher is better


def run_prometheus(runs: int) -> list[PromRow]:
    """Start Redis, tsapi and Prometheus in a scratch folder, load both, time every row."""
    gauge, day = _data()
    bodies = _bodies(gauge + day)  # one stream in time order (Prometheus' head needs it)
    samples = sum(len(t) for _, t, _ in gauge + day)
    end = (T0 + WEEK_MS - SCRAPE_MS) / 1000
    range_day = {"start": str(end - 86_400 + 600), "end": str(end), "step": "60"}
    queries = [
        ("sum by (host) (rate(requests_total[5m])), 1,000 series, 1 day, 60 s step",
         "query_range", {"query": "sum by (host) (rate(requests_total[5m]))", **range_day}),
        ("histogram_quantile over 100 bucket series, 1 day, 60 s step",
         "query_range",
         {"query": "histogram_quantile(0.9, sum by (le) (rate(latency_bucket[5m])))",
          **range_day}),
        ("plain selector, one series, a week of 15 s samples",
         "query", {"query": "gauge_one[7d]", "time": str(end)}),
    ]  # fmt: skip
    rows: list[PromRow] = []
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        root = Path(scratch)
        redis = stack.enter_context(running_redis(root / "redis"))
        api = stack.enter_context(running_api(redis.url, root / "api.log"))
        prom = stack.enter_context(_prometheus(root))
        http = stack.enter_context(httpx.Client(timeout=300))
        ours = _ingest(http, api.url, bodies)
        theirs = _ingest(http, prom, bodies)
        rows.append(
            (f"remote-write ingest, {samples / 1e6:.1f} M samples (1,101 series, 10 min a body)",
             "samples/s", samples / ours, samples / theirs, True)
        )  # fmt: skip
        _settle()
        for work, path, params in queries:
            _query(http, api.url, path, params)  # warm up both
            _query(http, prom, path, params)
            ours_s: list[float] = []
            theirs_s: list[float] = []
            for _ in range(runs):  # in turns, so that a disturbance hits both alike
                ours_s.append(_query(http, api.url, path, params))
                theirs_s.append(_query(http, prom, path, params))
            ours_ms, theirs_ms = (
                statistics.median(ours_s) * 1000,
                statistics.median(theirs_s) * 1000,
            )
            rows.append((work, "ms", ours_ms, theirs_ms, False))
    rows.insert(1, _sharded_row(gauge + day, samples))
    return rows


def format_prometheus_table(rows: list[PromRow]) -> str:
    """The rows as the markdown table of bench/RESULTS.md."""
    lines = [
        "| work | unit | tsapi | Prometheus | ratio | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for work, unit, ours_v, theirs_v, higher in rows:
        ratio = ours_v / theirs_v
        met = ratio >= 0.5 if higher else ratio <= 2
        target = "≥ 0.5" if higher else "≤ 2"
        lines.append(
            f"| {work} | {unit} | {ours_v:,.0f} | {theirs_v:,.0f} | {ratio:.2f} | "
            f"{target} {'met' if met else 'missed'} |"
        )
    return "\n".join(lines)


def prometheus_json(rows: list[PromRow]) -> list[dict[str, object]]:
    """The rows for a JSON file."""
    return [{"work": w, "unit": u, "tsapi": o, "prometheus": t} for w, u, o, t, _ in rows]


def main() -> None:
    """Run every row; print the table (markdown) and write bench/last-prometheus.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = run_prometheus(args.runs)
    print(format_prometheus_table(rows))
    Path("bench/last-prometheus.json").write_text(json.dumps(prometheus_json(rows), indent=1))


if __name__ == "__main__":
    main()
