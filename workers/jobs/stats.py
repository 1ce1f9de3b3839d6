"""``stats``: count, min, max, mean, std, sum, first, last and percentiles over a range.

The moments come from server-side aggregations (cheap on any size); percentiles need the
raw values, read in pages, up to ``max_samples`` per series.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from core.fields import DurationIn
from tsdb.errors import InvalidInput
from tsdb.models import Aggregation, RangeQuery
from tsdb.paging import count_samples, data_bounds
from tsdb.rollups.read import tiered_range
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import format_iso, parse_duration
from workers.jobs.common import Selection, prepare_selection, read_array
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "StatsParams"]

MOMENTS = {
    "count": Aggregation.COUNT,
    "min": Aggregation.MIN,
    "max": Aggregation.MAX,
    "mean": Aggregation.AVG,
    "std": Aggregation.STD_S,
    "sum": Aggregation.SUM,
    "first": Aggregation.FIRST,
    "last": Aggregation.LAST,
}


class StatsParams(Selection):
    """Which series and range, which percentiles, and optionally per bucket."""

    percentiles: list[Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: [50.0, 90.0, 99.0], max_length=20
    )
    bucket: DurationIn | None = Field(None, description="Also compute the stats per bucket")
    max_samples: int = Field(
        20_000_000, ge=1, le=100_000_000, description="Most raw samples read for percentiles"
    )


async def prepare(params: StatsParams, store: TimeSeriesStore) -> StatsParams:
    if any(not 0 <= p <= 100 for p in params.percentiles):
        raise InvalidInput("percentiles must be between 0 and 100")
    resolved = await prepare_selection(params, store)
    bucket = None if params.bucket is None else parse_duration(params.bucket, "bucket")
    return params.model_copy(update={**resolved, "bucket": bucket})


def _name(p: float) -> str:
    return f"p{p:g}"


async def _moments(
    store: TimeSeriesStore, key: str, start: int, end: int, bucket: int
) -> dict[int, dict[str, float | int | None]]:
    rows: dict[int, dict[str, float | int | None]] = {}
    for name, aggregation in MOMENTS.items():
        query = RangeQuery(
            from_ts=start, to_ts=end, aggregation=aggregation, bucket_ms=bucket, align=start
        )
        for t, v in await tiered_range(store, key, query):  # ROLLUPS: tiers when they can
            value = None if v != v else float(v)
            if name == "count" and value is not None:
                value = int(value)  # a count, not a measurement
            rows.setdefault(int(t), {})[name] = value
    return rows


def _series_stats(
    job: JobRun, params: StatsParams, key: str, bounds: tuple[int, int] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    empty = {"key": key, **dict.fromkeys(MOMENTS), "count": 0}
    empty.update(dict.fromkeys(_name(p) for p in params.percentiles))
    if bounds is None:
        return empty, []
    start, end = bounds
    store = job.store
    count = job.run(count_samples(store, key, start, end))
    if count == 0:
        return empty, []
    if params.percentiles and count > params.max_samples:
        raise InvalidInput(
            f"{key} has {count} samples in the range, more than max_samples "
            f"({params.max_samples}) for exact percentiles: narrow the range or raise max_samples"
        )
    whole = job.run(_moments(store, key, start, end, end - start + 1))
    overall = {"key": key, **next(iter(whole.values()))}
    times, values = (
        read_array(job, key, start, end) if params.percentiles else (np.empty(0), np.empty(0))
    )
    for p in params.percentiles:
        overall[_name(p)] = float(np.percentile(values, p)) if len(values) else None
    buckets: list[dict[str, Any]] = []
    if params.bucket is not None:
        width = int(params.bucket)
        per_bucket = job.run(_moments(store, key, start, end, width))
        index = ((times - start) // width).astype(np.int64) if len(times) else None
        for bucket_start, moments in sorted(per_bucket.items()):
            row: dict[str, Any] = {"key": key, "t": bucket_start, **moments}
            if index is not None:
                chosen = values[index == (bucket_start - start) // width]
                for p in params.percentiles:
                    row[_name(p)] = float(np.percentile(chosen, p)) if len(chosen) else None
            buckets.append(row)
    return overall, buckets


def run(params: StatsParams, job: JobRun) -> dict[str, Any]:
    """Count, min, max, mean, std, sum, first, last, percentiles; optionally per bucket."""
    keys = list(params.keys or [])
    series: list[dict[str, Any]] = []
    buckets: list[dict[str, Any]] = []
    for i, key in enumerate(keys):
        job.progress(5 + 85 * i // len(keys), f"computing {key}")
        bounds = job.run(data_bounds(job.store, [key], params.from_ms, params.to_ms))
        overall, per_bucket = _series_stats(job, params, key, bounds)
        series.append(overall)
        buckets.extend(per_bucket)
    columns = ["count", "min", "max", "mean", "std", "sum", "first", "last"] + [
        _name(p) for p in params.percentiles
    ]
    job.save_file("stats.csv", _csv(series, buckets, columns), "text/csv; charset=utf-8")
    job.progress(100, "done")
    result: dict[str, Any] = {"series": series, "from": params.from_ms, "to": params.to_ms}
    if params.bucket is not None:
        result["bucket_ms"] = int(params.bucket)
        result["buckets"] = buckets
    return result


def _csv(series: list[dict[str, Any]], buckets: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "bucket_start", "bucket_time", *columns])
    for row in series:
        writer.writerow([row["key"], "", "", *(_cell(row.get(c)) for c in columns)])
    for row in buckets:
        writer.writerow(
            [row["key"], row["t"], format_iso(row["t"]), *(_cell(row.get(c)) for c in columns)]
        )
    return out.getvalue().encode()


def _cell(value: Any) -> Any:
    return "" if value is None else value


JOB_TYPE = JobType.of("stats", StatsParams, prepare, run)
