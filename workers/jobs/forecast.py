"""``forecast``: exponential smoothing (Holt-Winters) of the next ``horizon`` buckets.

The history is aggregated by the server into ``bucket``-wide buckets aligned to the epoch
(so hourly buckets start on the hour), the newest ``max_history`` of them are kept, and
gaps (empty buckets) are filled by linear interpolation. An ETS model (statsmodels'
``ETSModel``: additive errors, optional additive or damped trend, optional additive or
multiplicative season of ``season`` / ``bucket`` buckets, heuristic initial states) is fitted
to each series, which gives the forecast and a prediction interval of level ``interval``.
"""

from __future__ import annotations

import csv
import inspect
import io
import math
import warnings
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from core.fields import DurationIn
from plots.analysis import ForecastSeries, forecast_figure
from plots.figures import PlotOptions
from tsdb.errors import InvalidInput
from tsdb.models import Aggregation
from tsdb.paging import data_bounds
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import format_iso, parse_duration
from workers.errors import JobNotPossible
from workers.jobs.common import AnalysisParams, dest_keys, prepare_selection, read_array
from workers.jobs.output import save_figure, write_series
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "Fit", "ForecastParams", "fit_forecast", "min_history"]

WRITE_KEY = "{key}:forecast"
ROUNDING = 1e-9
"""Least half-width of the interval, relative to the largest value of the history."""


class ForecastParams(AnalysisParams):
    """Which series, on which buckets, how far ahead and with which model."""

    bucket: DurationIn = Field(description="Bucket width: the step of history and forecast")
    horizon: int = Field(ge=1, le=10_000, description="Buckets to forecast")
    agg: Aggregation = Field(Aggregation.AVG, description="Aggregator per bucket")
    season: DurationIn | None = Field(
        None, description="Season length (a multiple of bucket), e.g. 1d; none: no season"
    )
    trend: Literal["none", "add", "damped"] = Field("add", description="Trend component")
    seasonal: Literal["add", "mul"] = Field("add", description="How the season combines")
    interval: float = Field(0.95, ge=0.5, le=0.999, description="Prediction interval level")
    max_history: int = Field(
        10_000, ge=10, le=200_000, description="Newest buckets used to fit the model"
    )


async def prepare(params: ForecastParams, store: TimeSeriesStore) -> ForecastParams:
    resolved = await prepare_selection(params, store)
    bucket = parse_duration(params.bucket, "bucket")
    season = None if params.season is None else parse_duration(params.season, "season")
    if season is not None and (season % bucket or season // bucket < 2):
        raise InvalidInput("season must be a multiple of bucket, at least two buckets long")
    if season is not None and min_history(season // bucket) > params.max_history:
        raise InvalidInput(
            f"a season of {season // bucket} buckets needs max_history of at least "
            f"{min_history(season // bucket)}"
        )
    prepared = params.model_copy(update={**resolved, "bucket": bucket, "season": season})
    needed = min_history(None if season is None else season // bucket)
    for key in prepared.keys or []:
        bounds = await data_bounds(store, [key], prepared.from_ms, prepared.to_ms)
        have = 0 if bounds is None else bounds[1] // bucket - bounds[0] // bucket + 1
        if have < needed:
            raise JobNotPossible(
                f"{key} has {have} buckets of history in the range; the model needs at least "
                f"{needed}: widen the range or use a smaller bucket"
            )
    if prepared.write:
        dest_keys(prepared, WRITE_KEY)
        prepared = prepared.model_copy(update={"write_key": prepared.write_key or WRITE_KEY})
    return prepared


def min_history(season_buckets: int | None) -> int:
    """Fewest buckets the model can be fitted on (two seasons, and enough for the level)."""
    if not season_buckets:
        return 10
    return max(10, 2 * season_buckets, 10 + 2 * (season_buckets // 2))


class Fit:
    """A fitted model's forecast, interval and parameters."""

    def __init__(
        self,
        mean: npt.NDArray[np.float64],
        lower: npt.NDArray[np.float64],
        upper: npt.NDArray[np.float64],
        model: dict[str, Any],
        warnings: list[str],
    ) -> None:
        self.mean = mean
        self.lower = lower
        self.upper = upper
        self.model = model
        self.warnings = warnings


def fit_forecast(
    values: npt.NDArray[np.float64],
    horizon: int,
    *,
    season_buckets: int | None,
    trend: str = "add",
    seasonal: str = "add",
    interval: float = 0.95,
) -> Fit:
    """Fit ETS to ``values`` (regular, no gaps) and forecast ``horizon`` steps."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    if len(values) < min_history(season_buckets):
        raise InvalidInput(
            f"{len(values)} buckets of history; the model needs at least "
            f"{min_history(season_buckets)}: widen the range or use a smaller bucket"
        )
    if season_buckets and seasonal == "mul" and np.any(values <= 0):
        raise InvalidInput("a multiplicative season needs strictly positive values")
    model = ETSModel(
        pd.Series(values),
        error="add",
        trend=None if trend == "none" else "add",
        damped_trend=trend == "damped",
        seasonal=seasonal if season_buckets else None,
        seasonal_periods=season_buckets or None,
        initialization_method="heuristic",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(disp=False)
        n = len(values)
        # simulated intervals (multiplicative season) are seeded, so a job is repeatable;
        # statsmodels 0.15 renamed simulate's random_state to rng
        seed = "rng" if "rng" in inspect.signature(result.simulate).parameters else "random_state"
        prediction = result.get_prediction(
            start=n, end=n + horizon - 1, **{seed: np.random.default_rng(0)}
        )
        frame = prediction.summary_frame(alpha=1 - interval)
    params = dict(zip(result.param_names, np.asarray(result.params, dtype=float), strict=True))
    smoothing = {
        "alpha": params.get("smoothing_level"),
        "beta": params.get("smoothing_trend"),
        "gamma": params.get("smoothing_seasonal"),
        "phi": params.get("damping_trend"),
    }
    described = {
        "trend": trend,
        "seasonal": seasonal if season_buckets else "none",
        "season_buckets": season_buckets,
        **{k: _number(v) for k, v in smoothing.items()},
        "aic": _number(result.aic),
        "sigma": _number(math.sqrt(max(0.0, float(np.nanmean(result.resid**2))))),
        "interval_method": prediction.method,
    }
    mean = np.asarray(frame["mean"], dtype=np.float64)
    # a noise-free history gives a zero-width interval: keep it wider than rounding error
    pad = ROUNDING * max(1.0, float(np.max(np.abs(values))))
    return Fit(
        mean=mean,
        lower=np.minimum(np.asarray(frame["pi_lower"], dtype=np.float64), mean - pad),
        upper=np.maximum(np.asarray(frame["pi_upper"], dtype=np.float64), mean + pad),
        model=described,
        warnings=sorted({str(w.message).splitlines()[0][:300] for w in caught}),
    )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _history(
    job: JobRun, params: ForecastParams, key: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """The newest ``max_history`` buckets on a regular grid, gaps interpolated."""
    bucket = int(params.bucket)
    bounds = job.run(data_bounds(job.store, [key], params.from_ms, params.to_ms))
    if bounds is None:
        raise JobNotPossible(f"{key} has no data in the range")
    first, last = bounds
    last_bucket = last - last % bucket
    start = max(first - first % bucket, last_bucket - (params.max_history - 1) * bucket)
    # align to the epoch (buckets on the hour): read from the start of start's bucket
    t, v = read_array(job, key, start, last, agg=params.agg, bucket=bucket)
    finite = np.isfinite(v)
    t, v = t[finite], v[finite]
    if not len(t):
        raise JobNotPossible(f"{key} has no data in the range")
    grid = np.arange(t[0], t[-1] + 1, bucket, dtype=np.int64)
    filled = np.interp(grid, t, v)
    return grid, filled, len(grid) - len(t)


def run(params: ForecastParams, job: JobRun) -> dict[str, Any]:
    """Holt-Winters (ETS) forecast of the next buckets with a prediction interval."""
    keys = list(params.keys or [])
    bucket = int(params.bucket)
    season_buckets = None if params.season is None else int(params.season) // bucket
    dests = dest_keys(params, WRITE_KEY)
    series: list[dict[str, Any]] = []
    plotted: list[ForecastSeries] = []
    rows: list[list[Any]] = []
    for i, key in enumerate(keys):
        job.progress(5 + 80 * i // len(keys), f"fitting {key}")
        t, v, gaps = _history(job, params, key)
        fit = fit_forecast(
            v,
            params.horizon,
            season_buckets=season_buckets,
            trend=params.trend,
            seasonal=params.seasonal,
            interval=params.interval,
        )
        future = t[-1] + bucket * np.arange(1, params.horizon + 1, dtype=np.int64)
        entry: dict[str, Any] = {
            "key": key,
            "history_buckets": len(v),
            "filled_gaps": gaps,
            "history_from": int(t[0]),
            "history_to": int(t[-1]),
            "model": fit.model,
            "warnings": fit.warnings,
            "forecast": {
                "t": future.tolist(),
                "value": [_number(x) for x in fit.mean],
                "lower": [_number(x) for x in fit.lower],
                "upper": [_number(x) for x in fit.upper],
            },
            "written_to": None,
        }
        for ts, mean, low, high in zip(future, fit.mean, fit.lower, fit.upper, strict=True):
            rows.append([key, int(ts), format_iso(int(ts)), mean, low, high])
        if key in dests:
            labels = {**params.write_labels, "source": key, "analysis": "forecast"}
            write_series(job, dests[key], labels, future, fit.mean)
            entry["written_to"] = dests[key]
        series.append(entry)
        if params.formats:
            shown = min(len(t), max(4 * params.horizon, 3 * (season_buckets or 0), 200))
            plotted.append(
                ForecastSeries(
                    key=key,
                    t=t[-shown:],
                    v=v[-shown:],
                    forecast_t=future,
                    forecast=fit.mean,
                    lower=fit.lower,
                    upper=fit.upper,
                    interval=params.interval,
                )
            )
    job.progress(88, "writing the files")
    job.save_file("forecast.csv", _csv(rows), "text/csv; charset=utf-8")
    if params.formats:
        options = PlotOptions(
            title=params.title or f"Forecast of the next {params.horizon} buckets",
            width=params.width,
            height=params.height,
        )
        save_figure(
            job, forecast_figure(plotted, options), "forecast", options.title, params.formats
        )
    job.progress(100, "done")
    return {
        "bucket_ms": bucket,
        "aggregation": params.agg,
        "horizon": params.horizon,
        "interval": params.interval,
        "season_ms": params.season,
        "series": series,
        "files": [f.name for f in job.files],
    }


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "t", "time", "value", "lower", "upper"])
    writer.writerows(rows)
    return out.getvalue().encode()


JOB_TYPE = JobType.of("forecast", ForecastParams, prepare, run)
