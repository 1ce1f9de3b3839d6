"""``python -m bench``: start Redis and the API, run the benchmarks, print and save the table."""

from __future__ import annotations

import argparse
import gc
import os
import platform
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

import redis

from bench.aggregate import run_range
from bench.bulk import run_bulk
from bench.context import BenchContext
from bench.data import make_samples
from bench.ingest import run_ingest
from bench.jobs import run_jobs
from bench.peer import format_peer_table, run_peer
from bench.prometheus import format_prometheus_table, prometheus_json, run_prometheus
from bench.rawrange import run_raw_range
from bench.readers import run_readers
from bench.report import (
    Row,
    bulk_rows,
    format_table,
    ingest_row,
    job_rows,
    range_row,
    raw_range_rows,
    reader_rows,
    rollup_rows,
    write_json,
)
from bench.rollups import YEAR, run_rollups
from bench.servers import redis_cli_path, running_api, running_redis
from tsdb.connection import timeseries_version

__all__ = ["main", "parse_args"]

DEFAULT_OUTPUT = Path(__file__).with_name("last-run.json")
READER_POINTS = 100_000
"""Points in the series the concurrent readers query (a 100-point window of it)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "tsapi vs raw Redis TimeSeries on one embedded Redis (ingest in every format, "
            "raw and aggregated ranges, concurrent readers), and job latency and "
            "throughput on tsapi workers."
        ),
    )
    parser.add_argument(
        "--points",
        type=_positive,
        default=100_000,
        help="points in the ingest batch (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=_positive,
        default=5,
        help="one-series ingest runs each way; the median counts (default: %(default)s)",
    )
    parser.add_argument(
        "--bulk-series",
        type=_positive,
        default=10,
        help="series the bulk-ingest points are spread over (default: %(default)s)",
    )
    parser.add_argument(
        "--bulk-runs",
        type=_positive,
        default=7,
        help="bulk-ingest runs per form each way; the median counts (default: %(default)s)",
    )
    parser.add_argument(
        "--raw-range-points",
        type=_positive,
        default=1_000_000,
        help="points in the raw-range series, all read by each query (default: %(default)s)",
    )
    parser.add_argument(
        "--raw-range-runs",
        type=_positive,
        default=5,
        help="raw-range queries per format after a warm-up (default: %(default)s)",
    )
    parser.add_argument(
        "--readers",
        type=_positive,
        default=32,
        help="concurrent clients of the small range query (default: %(default)s)",
    )
    parser.add_argument(
        "--reader-seconds",
        type=_positive,
        default=10,
        help="seconds each concurrent-reader measurement lasts (default: %(default)s)",
    )
    parser.add_argument(
        "--reader-workers",
        type=_counts,
        default=[1, 2],
        help="API server process counts to measure the readers on (default: 1,2)",
    )
    parser.add_argument(
        "--range-points",
        type=_positive,
        default=5_000_000,
        help="points in the range-query series (default: %(default)s)",
    )
    parser.add_argument(
        "--range-runs",
        type=_positive,
        default=10,
        help="range queries each way after a warm-up (default: %(default)s)",
    )
    parser.add_argument(
        "--job-points",
        type=_positive,
        default=5_000_000,
        help="points in the series the plot jobs draw (default: %(default)s)",
    )
    parser.add_argument(
        "--job-runs",
        type=_positive,
        default=5,
        help="HTML and PNG plot jobs each, after a first PNG one (default: %(default)s)",
    )
    parser.add_argument(
        "--noop-jobs",
        type=_positive,
        default=2_000,
        help="no-op jobs per throughput batch (default: %(default)s)",
    )
    parser.add_argument(
        "--skip-ingest", action="store_true", help="skip the ingest rows (one series and bulk)"
    )
    parser.add_argument(
        "--skip-raw-range", action="store_true", help="skip the raw (1 M points) range rows"
    )
    parser.add_argument(
        "--skip-readers", action="store_true", help="skip the concurrent-reader rows"
    )
    parser.add_argument(
        "--skip-range", action="store_true", help="skip the aggregated range benchmark"
    )
    parser.add_argument(
        "--skip-jobs", action="store_true", help="skip the job benchmark (plot latency, no-ops)"
    )
    parser.add_argument(
        "--skip-rollups",
        action="store_true",
        help="skip the rollup tier rows (a year of per-second data in four series)",
    )
    parser.add_argument(
        "--rollup-points",
        type=_positive,
        default=YEAR,
        help="points per series of the rollup rows (default: a year at 1/s, %(default)s)",
    )
    parser.add_argument(
        "--rollup-runs",
        type=_positive,
        default=15,
        help="whole-range reads each way, tiered and raw (default: %(default)s)",
    )
    parser.add_argument(
        "--skip-peer",
        action="store_true",
        help="skip the rows against VictoriaMetrics (listing and labels at 2 k to 1 M series...)",
    )
    parser.add_argument(
        "--skip-prometheus",
        action="store_true",
        help="skip the rows against a real Prometheus (PromQL reads and remote-write ingest)",
    )
    parser.add_argument(
        "--prometheus-runs",
        type=_positive,
        default=3,
        help="repetitions of each Prometheus-row query; the median counts (default: %(default)s)",
    )
    parser.add_argument(
        "--peer-max-series",
        type=_positive,
        default=1_000_000,
        help="largest fleet in the peer rows (steps 2 k, 20 k, 200 k, 1 M; default: %(default)s)",
    )
    parser.add_argument(
        "--peer-runs",
        type=_positive,
        default=15,
        help="repetitions of each peer read; the median counts (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the JSON results (default: bench/last-run.json)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run everything; exit 130 on Ctrl-C or SIGTERM after stopping the servers."""
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    # The bench imports much more than a client needs (the API's parsers, numpy, pyarrow,
    # rq); frozen, those objects are no longer walked by every full garbage collection, so
    # the raw side's redis-py pays for its own allocations only, as a lean client would.
    gc.freeze()
    try:
        rows, details = run(options)
    except KeyboardInterrupt:
        _say("interrupted; servers stopped")
        raise SystemExit(130) from None
    print(format_table(rows))
    if "peer" in details:
        print()
        print(format_peer_table(details["peer"]["rows_objects"]))
        details["peer"]["rows"] = [r.as_dict() for r in details["peer"].pop("rows_objects")]
    if "prometheus" in details:
        print()
        print(format_prometheus_table(details["prometheus"]["rows_objects"]))
        details["prometheus"]["rows"] = prometheus_json(details["prometheus"].pop("rows_objects"))
    write_json(options.output, rows, details)
    _say(f"results written to {options.output}")


def run(options: argparse.Namespace) -> tuple[list[Row], dict[str, Any]]:
    """Start the servers in a scratch folder, run the benchmarks, stop everything."""
    details: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
    }
    rows: list[Row] = []
    with _bench_context() as ctx:
        details["environment"] = _environment(ctx.admin)
        if not options.skip_ingest:
            _say(f"ingest: {options.points:,} points x {options.runs} runs each way")
            ingest = run_ingest(ctx, make_samples(options.points), options.runs)
            rows.append(ingest_row(ingest))
            details["ingest_seconds"] = asdict(ingest)
            _say(
                f"bulk ingest: {options.points:,} points in {options.bulk_series} series, "
                f"each form x {options.bulk_runs} runs each way"
            )
            bulk = run_bulk(
                ctx, make_samples(options.points), options.bulk_series, options.bulk_runs
            )
            rows.extend(bulk_rows(bulk))
            details["bulk_ingest"] = asdict(bulk)
        if not options.skip_raw_range:
            _say(
                f"raw range: loading {options.raw_range_points:,} points, then "
                f"{options.raw_range_runs} queries per format"
            )
            raw_range = run_raw_range(
                ctx, make_samples(options.raw_range_points), options.raw_range_runs
            )
            rows.extend(raw_range_rows(raw_range))
            details["raw_range"] = asdict(raw_range)
        if not options.skip_readers:
            _say(
                f"readers: {options.readers} clients x {options.reader_seconds} s on "
                f"{', '.join(map(str, options.reader_workers))} API process(es), then redis-py"
            )
            readers = run_readers(
                ctx,
                make_samples(READER_POINTS),
                options.readers,
                options.reader_seconds,
                options.reader_workers,
            )
            rows.extend(reader_rows(readers))
            details["readers"] = asdict(readers)
        if not options.skip_range:
            _say(
                f"range: loading {options.range_points:,} points, then "
                f"{options.range_runs} queries each way"
            )
            ranged = run_range(ctx, make_samples(options.range_points), options.range_runs)
            rows.append(range_row(ranged))
            details["range_seconds"] = asdict(ranged)
        if not options.skip_jobs:
            _say(
                f"jobs: loading {options.job_points:,} points, then plot jobs "
                f"({options.job_runs} HTML, {options.job_runs} PNG) and "
                f"{options.noop_jobs:,}-job no-op batches on 1 and 2 workers"
            )
            jobs = run_jobs(
                ctx, make_samples(options.job_points), options.job_runs, options.noop_jobs
            )
            rows.extend(job_rows(jobs))
            details["jobs"] = asdict(jobs)
        if not options.skip_rollups:  # last: it leaves four big series behind
            _say(
                f"rollups: loading {options.rollup_points:,} points into 4 series, backfilling "
                f"three tiers, then {options.rollup_runs} reads each way and ingests"
            )
            rollups = run_rollups(ctx, options.rollup_points, options.rollup_runs, 10, 5)
            rows.extend(rollup_rows(rollups))
            details["rollups"] = asdict(rollups)
    if not options.skip_peer:
        with tempfile.TemporaryDirectory(prefix="tsapi-bench-peer-") as scratch:
            _say("peer: tsapi and VictoriaMetrics, fresh servers, 2 k to 1 M series")
            peer = run_peer(
                Path(scratch), options.peer_runs, options.reader_seconds, options.peer_max_series
            )
        details["peer"] = {"rows_objects": peer.rows, "details": peer.details}
    if not options.skip_prometheus:  # at the end: its own servers, and Prometheus
        _say("prometheus: tsapi and a real Prometheus, same data, PromQL reads and ingest")
        details["prometheus"] = {"rows_objects": run_prometheus(options.prometheus_runs)}
    if hasattr(os, "getloadavg"):
        details["environment"]["load_average_end"] = list(os.getloadavg())
    return rows, details


@contextmanager
def _bench_context() -> Iterator[BenchContext]:
    """Redis and the API in a fresh temporary folder; both stopped (and it removed) after."""
    with tempfile.TemporaryDirectory(prefix="tsapi-bench-") as scratch:
        workdir = Path(scratch)
        _say(f"starting Redis and tsapi serve in {workdir}")
        with (
            running_redis(workdir / "redis") as server,
            running_api(server.url, workdir / "api.log") as api,
        ):
            admin = redis.Redis.from_url(server.url)
            try:
                yield BenchContext(
                    api.url, server.url, server.port, redis_cli_path(), workdir, admin, api.pid
                )
            finally:
                admin.close()


def _environment(admin: redis.Redis) -> dict[str, Any]:
    """Versions and machine, for the JSON file."""
    server: dict[str, Any] = admin.info("server")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "tsapi": version("tsapi"),
        "redis": server.get("redis_version"),
        "timeseries": timeseries_version(admin.execute_command("MODULE LIST")),
    }


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def _counts(text: str) -> list[int]:
    return [_positive(part) for part in text.split(",") if part.strip()]


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM behaves like Ctrl-C, so the servers are stopped on the way out."""
    raise KeyboardInterrupt


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
