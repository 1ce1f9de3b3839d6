"""``anomaly``: flag points far from normal with a robust rolling median and MAD.

For each point the baseline is the median of the ``window`` points centred on it and the
spread is the median absolute deviation from the baseline over five windows around it (scaled
by 1.4826, so it estimates the standard deviation of normal noise). A point whose robust score
``|v - baseline| / spread`` exceeds ``threshold`` (and whose deviation exceeds
``min_deviation``) is anomalous; runs of neighbouring anomalous points make an interval.

``method="seasonal"`` first subtracts a seasonal profile (the median of each phase of the
season, e.g. of each hour of the day over all days, on ``bucket``-wide buckets) and runs the
rolling median and MAD on what is left, so a daily peak is normal but a peak at night is not.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from core.fields import DurationIn
from plots.analysis import AnomalySeries, anomaly_figure, decimate
from plots.figures import PlotOptions
from tsdb.errors import InvalidInput
from tsdb.models import Aggregation
from tsdb.paging import count_samples, data_bounds
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import format_iso, parse_duration
from workers.errors import JobNotPossible
from workers.jobs.common import AnalysisParams, dest_keys, prepare_selection, read_array
from workers.jobs.output import save_figure, write_series
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "AnomalyParams", "Detection", "detect"]

MAD_TO_SIGMA = 1.4826
SPREAD_WINDOWS = 5
"""The spread (MAD) is taken over this many windows: steadier than over one, so that noise
alone does not cross the threshold."""
MAX_INTERVALS = 1000
"""Intervals listed per series in the JSON result (the CSV has them all)."""
PLOT_POINTS = 4000
WRITE_KEY = "{key}:anomaly"


class AnomalyParams(AnalysisParams):
    """Which series, how to judge "normal", and what to do with what is not."""

    method: Literal["rolling", "seasonal"] = Field(
        "rolling", description="rolling median/MAD, or seasonal profile then rolling"
    )
    window: int = Field(31, ge=3, le=100_001, description="Points in the centred rolling window")
    threshold: float = Field(
        5.0, gt=0, le=1000, description="Robust z-score above which a point is anomalous"
    )
    min_deviation: float = Field(
        0.0, ge=0, description="Deviations smaller than this (in data units) are never anomalous"
    )
    bucket: DurationIn | None = Field(
        None, description="Analyse buckets of agg instead of raw points (required for seasonal)"
    )
    agg: Aggregation = Field(Aggregation.AVG, description="Aggregator per bucket")
    season: DurationIn | None = Field(None, description="Season length for seasonal, e.g. 1d")
    max_samples: int = Field(
        2_000_000, ge=10, le=20_000_000, description="Most points (or buckets) per series"
    )

    @model_validator(mode="after")
    def _seasonal_needs_season(self) -> AnomalyParams:
        if self.method == "seasonal" and (self.season is None or self.bucket is None):
            raise ValueError("method 'seasonal' needs a season and a bucket")
        return self


async def prepare(params: AnomalyParams, store: TimeSeriesStore) -> AnomalyParams:
    resolved = await prepare_selection(params, store)
    bucket = None if params.bucket is None else parse_duration(params.bucket, "bucket")
    season = None if params.season is None else parse_duration(params.season, "season")
    if season is not None and bucket is not None and (season % bucket or season // bucket < 2):
        raise InvalidInput("season must be a multiple of bucket, at least two buckets long")
    prepared = params.model_copy(update={**resolved, "bucket": bucket, "season": season})
    if prepared.write:
        dest_keys(prepared, WRITE_KEY)
        prepared = prepared.model_copy(update={"write_key": prepared.write_key or WRITE_KEY})
    for key in resolved["keys"]:
        bounds = await data_bounds(store, [key], prepared.from_ms, prepared.to_ms)
        if bounds is None:
            continue
        size = await count_samples(store, key, *bounds)
        if bucket is not None:
            size = min(size, (bounds[1] - bounds[0]) // bucket + 1)
        if size > prepared.max_samples:
            raise JobNotPossible(
                f"{key} has {size} {'buckets' if bucket else 'samples'} in the range, more "
                f"than max_samples ({prepared.max_samples}): narrow the range, give a (larger) "
                "bucket, or raise max_samples"
            )
    return prepared


@dataclass(frozen=True)
class Detection:
    """Per point: the baseline, the spread, the robust score and the verdict."""

    baseline: npt.NDArray[np.float64]
    sigma: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    anomalous: npt.NDArray[np.bool_]


def _rolling_median(values: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    import pandas as pd

    series = pd.Series(values)
    rolled = series.rolling(window, center=True, min_periods=min(window, window // 2 + 1))
    return np.asarray(rolled.median(), dtype=np.float64)


def detect(
    t: npt.NDArray[np.int64],
    v: npt.NDArray[np.float64],
    *,
    window: int,
    threshold: float,
    min_deviation: float = 0.0,
    season: int | None = None,
    bucket: int | None = None,
) -> Detection:
    """Robust anomaly scores of ``v`` (at times ``t``); seasonal when ``season``/``bucket``."""
    if not len(v):
        empty = np.empty(0, dtype=np.float64)
        return Detection(empty, empty, empty, np.empty(0, dtype=bool))
    window = min(window, len(v)) if len(v) >= 3 else len(v)
    profile = np.zeros(len(v))
    if season is not None and bucket is not None:
        import pandas as pd

        phase = (t // bucket) % (season // bucket)
        profile = np.asarray(pd.Series(v).groupby(phase).transform("median"), dtype=np.float64)
    residual = v - profile
    center = _rolling_median(residual, window)
    deviation = np.abs(residual - center)
    sigma = MAD_TO_SIGMA * _rolling_median(deviation, min(len(v), SPREAD_WINDOWS * window))
    tiny = np.finfo(np.float64).eps * np.maximum(1.0, np.abs(v))
    score = deviation / np.maximum(sigma, tiny)
    anomalous = (score > threshold) & (deviation > min_deviation)
    return Detection(center + profile, sigma, score, anomalous)


def _runs(flags: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[first, last]`` index pairs of the runs of True in ``flags``."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _intervals(
    t: npt.NDArray[np.int64], v: npt.NDArray[np.float64], found: Detection
) -> list[dict[str, Any]]:
    intervals = []
    for first, last in _runs(found.anomalous):
        peak = first + int(np.argmax(found.score[first : last + 1]))
        intervals.append(
            {
                "start": int(t[first]),
                "end": int(t[last]),
                "point_count": last - first + 1,
                "peak_t": int(t[peak]),
                "peak_value": float(v[peak]),
                "baseline": float(found.baseline[peak]),
                "score": float(found.score[peak]),
                "direction": "high" if v[peak] > found.baseline[peak] else "low",
            }
        )
    return intervals


def run(params: AnomalyParams, job: JobRun) -> dict[str, Any]:
    """Flag points far from a rolling median (robust MAD score); intervals, plot, CSV."""
    keys = list(params.keys or [])
    bucket = None if params.bucket is None else int(params.bucket)
    season = None if params.season is None else int(params.season)
    dests = dest_keys(params, WRITE_KEY)
    series: list[dict[str, Any]] = []
    plotted: list[AnomalySeries] = []
    rows: list[list[Any]] = []
    for i, key in enumerate(keys):
        job.progress(5 + 70 * i // len(keys), f"analysing {key}")
        bounds = job.run(data_bounds(job.store, [key], params.from_ms, params.to_ms))
        if bounds is None:
            t, v = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        else:
            t, v = read_array(job, key, *bounds, agg=params.agg if bucket else None, bucket=bucket)
        if len(v) > params.max_samples:
            raise InvalidInput(f"{key} has more than max_samples ({params.max_samples}) points")
        found = detect(
            t,
            v,
            window=params.window,
            threshold=params.threshold,
            min_deviation=params.min_deviation,
            season=season,
            bucket=bucket,
        )
        intervals = _intervals(t, v, found)
        for n, interval in enumerate(intervals, start=1):
            rows.append([key, n, *(interval[c] for c in CSV_COLUMNS[2:])])
        entry: dict[str, Any] = {
            "key": key,
            "point_count": len(v),
            "anomalous_points": int(found.anomalous.sum()),
            "intervals_total": len(intervals),
            "intervals": intervals[:MAX_INTERVALS],
            "written_to": None,
        }
        if key in dests:
            job.progress(5 + 70 * i // len(keys), f"writing {dests[key]}")
            labels = {**params.write_labels, "source": key, "analysis": "anomaly"}
            write_series(job, dests[key], labels, t, found.anomalous.astype(np.float64))
            entry["written_to"] = dests[key]
        series.append(entry)
        if params.formats:
            plotted.append(_for_plot(key, t, v, found, params.threshold, intervals))
    job.progress(80, "writing the files")
    job.save_file("anomalies.csv", _csv(rows), "text/csv; charset=utf-8")
    if params.formats:
        options = PlotOptions(
            title=params.title or f"Anomalies (robust score > {params.threshold:g})",
            width=params.width,
            height=params.height,
        )
        save_figure(job, anomaly_figure(plotted, options), "anomaly", options.title, params.formats)
    job.progress(100, "done")
    return {
        "method": params.method,
        "threshold": params.threshold,
        "window": params.window,
        "bucket_ms": bucket,
        "aggregation": params.agg if bucket else None,
        "season_ms": season,
        "from": params.from_ms,
        "to": params.to_ms,
        "anomalous_points": sum(s["anomalous_points"] for s in series),
        "series": series,
        "files": [f.name for f in job.files],
    }


def _for_plot(
    key: str,
    t: npt.NDArray[np.int64],
    v: npt.NDArray[np.float64],
    found: Detection,
    threshold: float,
    intervals: list[dict[str, Any]],
) -> AnomalySeries:
    keep = np.union1d(decimate(v, PLOT_POINTS), np.flatnonzero(found.anomalous))
    band = threshold * found.sigma[keep]
    return AnomalySeries(
        key=key,
        t=t[keep],
        v=v[keep],
        baseline=found.baseline[keep],
        lower=found.baseline[keep] - band,
        upper=found.baseline[keep] + band,
        anomalous=found.anomalous[keep],
        intervals=[(i["start"], i["end"]) for i in intervals],
    )


CSV_COLUMNS = [
    "key",
    "interval",
    "start",
    "end",
    "point_count",
    "peak_t",
    "peak_value",
    "baseline",
    "score",
    "direction",
]


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS[:4], "start_time", "end_time", *CSV_COLUMNS[4:]])
    for row in rows:
        writer.writerow([*row[:4], format_iso(row[2]), format_iso(row[3]), *row[4:]])
    return out.getvalue().encode()


JOB_TYPE = JobType.of("anomaly", AnomalyParams, prepare, run)
