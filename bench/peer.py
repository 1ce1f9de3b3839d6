"""tsapi against VictoriaMetrics: the same data and the same questions to both, in one run.

A fresh Redis (AOF everysec, as ``make run``), a fresh ``tsapi serve`` and a fresh
VictoriaMetrics (temp storage, loopback) take a fleet of hosts x 100 metrics, 5 samples
each, in steps (2 k, 20 k, 200 k and 1 M series); after each step both answer the first
page of the series list, the label names and the values of ``host``. At 200 k series the
other rows of issue 16 run: memory, 1,000 series x 10 buckets, raw export of 1 M points,
32 concurrent 100-point reads, line-protocol ingest. Only one system works at a time; the
same bodies are built before any timing. Ratios are tsapi / VictoriaMetrics.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import redis

from bench.fleet import METRICS, Bodies, Fleet, fleet_bodies, group_bodies, line_protocol
from bench.raw import settle
from bench.readers import wrk_rate
from bench.servers import running_api, running_redis
from bench.stats import median
from bench.victoria import Victoria, running_victoria

__all__ = ["PeerRow", "PeerTimes", "format_peer_table", "run_peer"]

SCALES = (2_000, 20_000, 200_000, 1_000_000)
MAIN_SCALE = 200_000
"""The fleet size of the rows that are not about scale (issue 16's table)."""
QUERY_SERIES = 1_000
BIG_POINTS = 1_000_000
LP_POINTS = 1_000_000
LP_SERIES = 100
READ_WINDOW = 100
JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}


@dataclass(frozen=True)
class PeerRow:
    """One line of the peer table: the same work on both systems.

    ``target`` bounds the ratio tsapi / VictoriaMetrics, or tsapi's own figure when
    ``target_on_tsapi`` (a minimum when higher is better, else a maximum).
    """

    work: str
    unit: str
    tsapi: float
    victoria: float | None
    higher_is_better: bool
    target: float | None = None
    target_on_tsapi: bool = False

    @property
    def ratio(self) -> float | None:
        if self.victoria in (None, 0):
            return None
        return self.tsapi / self.victoria

    @property
    def met(self) -> bool | None:
        value = self.tsapi if self.target_on_tsapi else self.ratio
        if self.target is None or value is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "work": self.work,
            "unit": self.unit,
            "tsapi": self.tsapi,
            "victoria": self.victoria,
            "ratio": self.ratio,
            "higher_is_better": self.higher_is_better,
            "target": self.target,
            "target_on_tsapi": self.target_on_tsapi,
            "met": self.met,
        }


@dataclass
class PeerTimes:
    """Rows, and what is behind them (CPU seconds, load averages, raw timings)."""

    rows: list[PeerRow] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Systems:
    api_url: str
    api_pid: int
    redis_url: str
    admin: redis.Redis
    vm: Victoria
    http: httpx.Client
    workdir: Path


def run_peer(
    workdir: Path, runs: int = 15, reader_seconds: float = 10.0, max_series: int = SCALES[-1]
) -> PeerTimes:
    """Start Redis, tsapi and VictoriaMetrics in ``workdir`` and run every peer row (the
    fleet grows up to ``max_series``; the other rows run at 200 k, or at the largest step
    below it when ``max_series`` is smaller)."""
    scales = [scale for scale in SCALES if scale <= max_series] or [max_series]
    main = (
        max(scale for scale in scales if scale <= MAIN_SCALE)
        if min(scales) <= MAIN_SCALE
        else scales[0]
    )
    times = PeerTimes()
    times.details["victoria"] = ""
    with _systems(workdir) as s:
        times.details["victoria"] = s.vm.version()
        fleet = Fleet.recent()
        base_memory = _used_memory(s.admin)
        hosts = 0
        for scale in scales:
            bodies = fleet_bodies(fleet, hosts, scale // METRICS - hosts)
            hosts = scale // METRICS
            _create(s, times, bodies, scale, main, scales[-1])
            _listing(s, times, fleet, scale, runs)
            if scale == main:
                _memory(s, times, base_memory, scale)
                _query(s, times, runs)
                _export_and_readers(s, times, reader_seconds)
                _line_protocol(s, times)
    return times


@contextmanager
def _systems(workdir: Path) -> Iterator[_Systems]:
    with ExitStack() as stack:
        server = stack.enter_context(running_redis(workdir / "peer-redis"))
        api = stack.enter_context(running_api(server.url, workdir / "peer-api.log"))
        vm = stack.enter_context(running_victoria(workdir / "peer-victoria"))
        admin = stack.enter_context(redis.Redis.from_url(server.url))
        http = stack.enter_context(httpx.Client(timeout=600.0))
        yield _Systems(api.url, api.pid, server.url, admin, vm, http, workdir)


def _say(message: str) -> None:
    print(f"bench: peer: {message}", flush=True, file=sys.stderr)


def _load() -> float:
    return os.getloadavg()[0]


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_cpu(admin: redis.Redis) -> float:
    info: dict[str, Any] = admin.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _forks(admin: redis.Redis) -> int:
    info: dict[str, Any] = admin.info("stats")
    return int(info["total_forks"])


def _used_memory(admin: redis.Redis) -> int:
    info: dict[str, Any] = admin.info("memory")
    return int(info["used_memory"])


def _post_all(http: httpx.Client, url: str, bodies: list[bytes], headers: dict[str, str]) -> None:
    for body in bodies:
        response = http.post(url, content=body, headers=headers)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")


def _timed_pair(
    s: _Systems, tsapi: Callable[[], None], victoria: Callable[[], None]
) -> dict[str, Any]:
    """Run tsapi's side then VictoriaMetrics', each timed with the CPU it cost."""
    settle(s.admin)
    cpu = (_redis_cpu(s.admin), _proc_cpu(s.api_pid))
    forks = _forks(s.admin)
    started, load = time.perf_counter(), _load()
    tsapi()
    t_seconds = time.perf_counter() - started
    t_cpu = {
        "redis": round(_redis_cpu(s.admin) - cpu[0], 2),
        "api": round(_proc_cpu(s.api_pid) - cpu[1], 2),
        "redis_forks": _forks(s.admin) - forks,  # AOF rewrites and saves meanwhile
    }
    vm_cpu = _proc_cpu(s.vm.pid)
    started = time.perf_counter()
    victoria()
    v_seconds = time.perf_counter() - started
    return {
        "tsapi_s": t_seconds,
        "victoria_s": v_seconds,
        "tsapi_cpu": t_cpu,
        "victoria_cpu": round(_proc_cpu(s.vm.pid) - vm_cpu, 2),
        "load": load,
    }


def _create(
    s: _Systems, times: PeerTimes, bodies: Bodies, scale: int, main: int, last: int
) -> None:
    _say(f"creating {bodies.series:,} series ({scale:,} in all)")
    timing = _timed_pair(
        s,
        lambda: _post_all(s.http, f"{s.api_url}/v1/points?create=true", bodies.tsapi, JSON),
        lambda: (
            _post_all(s.http, f"{s.vm.url}/api/v1/import", bodies.victoria, JSON),
            s.vm.flush(s.http),
        ),
    )
    times.details.setdefault("create", {})[scale] = timing
    if scale == main:
        times.rows.append(
            PeerRow(
                f"create {bodies.series:,} series of 5 points (to {scale:,}) through the bulk API",
                "series/s",
                bodies.series / timing["tsapi_s"],
                bodies.series / timing["victoria_s"],
                True,
                0.5,
            )
        )
    if scale == last and last != main:
        times.rows.append(
            PeerRow(
                f"create {bodies.series:,} more series (to {scale:,})",
                "series/s",
                bodies.series / timing["tsapi_s"],
                bodies.series / timing["victoria_s"],
                True,
            )
        )


def _median_ms(http: httpx.Client, url: str, runs: int, check: Callable[[Any], bool]) -> float:
    answer = http.get(url)
    answer.raise_for_status()
    if not check(orjson.loads(answer.content)):
        raise RuntimeError(f"unexpected answer from {url}: {answer.text[:300]}")
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        http.get(url).raise_for_status()
        seconds.append(time.perf_counter() - started)
    return median(seconds) * 1000


def _listing(s: _Systems, times: PeerTimes, fleet: Fleet, scale: int, runs: int) -> None:
    _say(f"listing and labels at {scale:,} series")
    span = f"start={fleet.start_ms // 1000 - 60}&end={fleet.end_ms // 1000 + 60}"
    hosts = scale // METRICS
    checks: list[tuple[str, str, str, Callable[[Any], bool], Callable[[Any], bool]]] = [
        (
            "first page of the series list (100)",
            "/v1/series?limit=100",
            "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D&limit=100&" + span,
            lambda d: len(d["series"]) == 100 and d["next"] is not None,
            lambda d: len(d["data"]) == 100,
        ),
        (
            "label names",
            "/v1/labels",
            "/api/v1/labels?" + span,
            lambda d: {"host", "metric"} <= set(d["labels"]),
            lambda d: "host" in d["data"],
        ),
        (
            f"values of label host ({hosts:,})",
            "/v1/labels/host/values",
            "/api/v1/label/host/values?" + span,
            lambda d: len(d["values"]) == hosts,
            lambda d: len(d["data"]) == hosts,
        ),
    ]
    settle(s.admin)
    for work, path, vm_path, check, vm_check in checks:
        load = _load()
        t_ms = _median_ms(s.http, s.api_url + path, runs, check)
        v_ms = _median_ms(s.http, s.vm.url + vm_path, runs, vm_check)
        times.details.setdefault("listing", {}).setdefault(scale, {})[work] = {
            "tsapi_ms": t_ms,
            "victoria_ms": v_ms,
            "load": load,
        }
        times.rows.append(
            PeerRow(f"{work} at {scale:,} series", "ms", t_ms, v_ms, False, 10.0, True)
        )


def _memory(s: _Systems, times: PeerTimes, base: int, scale: int) -> None:
    used = _used_memory(s.admin) - base
    s.vm.flush(s.http)
    vm_bytes = s.vm.rss_bytes() + s.vm.disk_bytes()
    times.details["memory"] = {
        "redis_used_bytes": used,
        "victoria_rss_bytes": s.vm.rss_bytes(),
        "victoria_disk_bytes": s.vm.disk_bytes(),
    }
    times.rows.append(
        PeerRow(
            f"memory per series of 5 points at {scale:,} series (Redis used_memory; VM RSS + disk)",
            "bytes",
            used / scale,
            vm_bytes / scale,
            False,
            1536.0,
            True,
        )
    )


def _query(s: _Systems, times: PeerTimes, runs: int) -> None:
    _say(f"{QUERY_SERIES:,} series x 10 buckets")
    fleet = Fleet.recent(points=100)
    bodies = group_bodies(fleet, QUERY_SERIES, ("job", "q"), "qm")
    _post_all(s.http, f"{s.api_url}/v1/points?create=true", bodies.tsapi, JSON)
    _post_all(s.http, f"{s.vm.url}/api/v1/import", bodies.victoria, JSON)
    s.vm.flush(s.http)
    bucket = fleet.step_ms * fleet.points // 10
    start, end = fleet.start_ms, fleet.start_ms + 10 * bucket - 1
    path = f"/v1/query?filter=job=q&from={start}&to={end}&agg=avg&bucket={bucket}"
    vm_path = (
        f"/api/v1/query_range?query=avg_over_time(qm%7Bjob%3D%22q%22%7D%5B{bucket // 1000}s%5D)"
        f"&start={(start + bucket) / 1000}&end={(start + 10 * bucket) / 1000}"
        f"&step={bucket // 1000}s&nocache=1"
    )
    settle(s.admin)
    load = _load()
    t_ms = _median_ms(
        s.http,
        s.api_url + path,
        runs,
        lambda d: len(d["series"]) == QUERY_SERIES and len(d["series"][0]["points"]) == 10,
    )
    v_ms = _median_ms(
        s.http, s.vm.url + vm_path, runs, lambda d: len(d["data"]["result"]) == QUERY_SERIES
    )
    times.details["query"] = {"tsapi_ms": t_ms, "victoria_ms": v_ms, "load": load}
    times.rows.append(
        PeerRow(
            f"{QUERY_SERIES:,} series x 10 buckets by one label filter",
            "ms",
            t_ms,
            v_ms,
            False,
            2.0,
        )
    )


def _export_and_readers(s: _Systems, times: PeerTimes, reader_seconds: float) -> None:
    _say(f"raw export of {BIG_POINTS:,} points, then 32 readers")
    rng = np.random.default_rng(3)
    t0 = Fleet.recent().start_ms - BIG_POINTS * 1000
    ts = (t0 + np.arange(BIG_POINTS, dtype=np.int64) * 1000).tolist()
    vs = np.round(np.cumsum(rng.normal(0, 1, BIG_POINTS)), 3).tolist()
    before = _used_memory(s.admin)
    body = orjson.dumps({"key": "big", "t": ts, "v": vs})
    _post_all(s.http, f"{s.api_url}/v1/points?create=true", [body], JSON)
    per_sample = (_used_memory(s.admin) - before) / BIG_POINTS
    line = orjson.dumps({"metric": {"__name__": "big"}, "values": vs, "timestamps": ts})
    _post_all(s.http, f"{s.vm.url}/api/v1/import", [line], JSON)
    s.vm.flush(s.http)
    times.details["big_series_bytes_per_sample"] = per_sample
    times.rows.append(
        PeerRow(
            f"Redis memory per sample of one {BIG_POINTS:,}-point series",
            "bytes",
            per_sample,
            None,
            False,
        )
    )
    export = f"{s.api_url}/v1/series/big/points?from=-&to=%2B"
    vm_export = f"{s.vm.url}/api/v1/export?match[]=big&start={t0 // 1000 - 1}"
    settle(s.admin)
    t_runs, v_runs = [], []
    load = _load()
    for _ in range(5):
        for url, out in ((export, t_runs), (vm_export, v_runs)):
            started = time.perf_counter()
            response = s.http.get(url)
            response.raise_for_status()
            out.append(time.perf_counter() - started)
            if len(response.content) < BIG_POINTS * 10:
                raise RuntimeError(f"{url} returned only {len(response.content)} bytes")
    times.details["export"] = {"tsapi_s": t_runs, "victoria_s": v_runs, "load": load}
    times.rows.append(
        PeerRow(
            f"raw export of {BIG_POINTS:,} points of one series (JSON)",
            "ms",
            median(t_runs) * 1000,
            median(v_runs) * 1000,
            False,
            1.5,
        )
    )
    wrk = shutil.which("wrk")
    if wrk is None:
        _say("wrk is missing (make provision): no reader rows")
        return
    first = ts[BIG_POINTS // 2]
    last = first + 1000 * (READ_WINDOW - 1)
    path = f"/v1/series/big/points?from={first}&to={last}"
    vm_path = f"/api/v1/export?match[]=big&start={first / 1000}&end={last / 1000}"
    got = s.http.get(s.api_url + path).json()["points"]
    vm_got = orjson.loads(s.http.get(s.vm.url + vm_path).content)["values"]
    if len(got) != READ_WINDOW or len(vm_got) != READ_WINDOW:
        raise RuntimeError(f"reader windows hold {len(got)} and {len(vm_got)} points")
    readers: dict[str, Any] = {}
    settle(s.admin)
    wrk_rate(wrk, s.vm.url + vm_path, 32, 2)
    vm_cpu = _proc_cpu(s.vm.pid)
    vm_rate = wrk_rate(wrk, s.vm.url + vm_path, 32, reader_seconds)
    readers["victoria"] = {
        "per_second": vm_rate.per_second,
        "cpu_s": round(_proc_cpu(s.vm.pid) - vm_cpu, 2),
        "latency_ms": vm_rate.latency_ms,
        "load": _load(),
    }
    for processes in (1, 2):
        with running_api(
            s.redis_url, s.workdir / f"peer-api-{processes}.log", workers=processes
        ) as api:
            wrk_rate(wrk, api.url + path, 32, 2)
            cpu = _redis_cpu(s.admin)
            load = _load()
            rate = wrk_rate(wrk, api.url + path, 32, reader_seconds)
            readers[f"tsapi_{processes}"] = {
                "per_second": rate.per_second,
                "redis_cpu_s": round(_redis_cpu(s.admin) - cpu, 2),
                "latency_ms": rate.latency_ms,
                "load": load,
            }
        times.rows.append(
            PeerRow(
                f"32 clients, {READ_WINDOW}-point range reads, {processes} API process(es)",
                "req/s",
                rate.per_second,
                vm_rate.per_second,
                True,
                0.5,
            )
        )
    times.details["readers"] = readers


def _line_protocol(s: _Systems, times: PeerTimes) -> None:
    _say(f"line protocol: {LP_POINTS:,} points in {LP_SERIES} series, 3 runs each")
    start = Fleet.recent().start_ms - LP_POINTS * 1000
    runs = []
    for run in range(3):
        bodies = list(line_protocol(f"lp{run}", LP_SERIES, LP_POINTS, start))
        runs.append(
            _timed_pair(
                s,
                lambda b=bodies: _post_all(  # type: ignore[misc]
                    s.http, f"{s.api_url}/v1/points?precision=ns", b, TEXT
                ),
                lambda b=bodies: (  # type: ignore[misc]
                    _post_all(s.http, f"{s.vm.url}/write", b, TEXT),
                    s.vm.flush(s.http),
                ),
            )
        )
    times.details["line_protocol"] = runs
    times.rows.append(
        PeerRow(
            f"line-protocol ingest, {LP_POINTS:,} points in {LP_SERIES} series",
            "points/s",
            LP_POINTS / median([r["tsapi_s"] for r in runs]),
            LP_POINTS / median([r["victoria_s"] for r in runs]),
            True,
            0.8,
        )
    )


def format_peer_table(rows: list[PeerRow]) -> str:
    """The peer rows as a text table."""
    lines = [f"{'work':<88} {'tsapi':>12} {'VictoriaMetrics':>16} {'ratio':>7}  target"]
    for row in rows:
        vm = "-" if row.victoria is None else f"{row.victoria:,.1f}"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        if row.target is None:
            target = ""
        else:
            sign = ">=" if row.higher_is_better else "<="
            what = "" if row.target_on_tsapi else "ratio "
            verdict = {True: "met", False: "MISSED", None: ""}[row.met]
            target = f"{what}{sign} {row.target:g} {verdict}"
        work = f"{row.work} ({row.unit})"
        lines.append(f"{work:<88} {row.tsapi:>12,.1f} {vm:>16} {ratio:>7}  {target}")
    return "\n".join(lines)
