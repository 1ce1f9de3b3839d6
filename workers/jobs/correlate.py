"""``correlate``: Pearson and Spearman correlation of series aligned on common buckets,
and the lag at which each pair correlates best.

Every series is aggregated by the server on the same grid of ``bucket``-wide buckets
(aligned to the start of the range); a bucket empty in one series is left out of that
series' pairs only (pairwise complete observations). The lagged cross-correlation of a
pair ``a``, ``b`` at lag ``k`` is the Pearson correlation of ``a(t)`` with ``b(t + k)``: a
positive best lag means ``b`` follows ``a`` (b repeats what a did ``k`` buckets earlier).
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from core.fields import DurationIn
from plots.analysis import correlation_heatmap
from tsdb.models import Aggregation, RangeQuery
from tsdb.paging import count_samples, data_bounds
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import parse_duration
from workers.errors import JobNotPossible
from workers.jobs.common import FORMATS, Format, Selection, prepare_selection, read_array
from workers.jobs.output import save_figure
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "CorrelateParams", "best_lags", "pearson_matrix", "spearman_matrix"]

AUTO_BUCKETS = 10_000
"""An automatic bucket makes at most this many buckets over the range."""
DEFAULT_LAGS = 50
MIN_OVERLAP = 3

FloatArray = npt.NDArray[np.float64]


class CorrelateParams(Selection):
    """Which series (two or more), on which buckets, and how far to look for a lag."""

    bucket: DurationIn | None = Field(
        None, description="Common bucket; default: the sampling interval of the sparsest series"
    )
    agg: Aggregation = Field(Aggregation.AVG, description="Aggregator per bucket")
    max_lag: DurationIn | None = Field(
        None, description="Largest shift tried either way; default: 50 buckets; 0: no lags"
    )
    max_buckets: int = Field(
        100_000, ge=10, le=1_000_000, description="Refuse a grid of more buckets than this"
    )
    heatmap: Literal["pearson", "spearman"] = Field("pearson", description="Matrix to plot")
    formats: list[Format] = Field(
        default_factory=lambda: list(FORMATS), description="Plots to make; [] for none"
    )
    width: int = Field(700, ge=200, le=4000, description="Plot width, pixels")
    height: int = Field(600, ge=150, le=3000, description="Plot height, pixels")
    title: str = Field("", max_length=300)


async def prepare(params: CorrelateParams, store: TimeSeriesStore) -> CorrelateParams:
    resolved = await prepare_selection(params, store)
    if len(resolved["keys"]) < 2:
        raise JobNotPossible("correlate needs at least two series")
    bucket = None if params.bucket is None else parse_duration(params.bucket, "bucket")
    max_lag = None
    if params.max_lag is not None:
        max_lag = 0 if params.max_lag in (0, "0") else parse_duration(params.max_lag, "max_lag")
    return params.model_copy(update={**resolved, "bucket": bucket, "max_lag": max_lag})


def pearson_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """``r[i, j]``: Pearson correlation of rows ``a[i]`` and ``b[j]`` where both are finite.

    NaN where fewer than three positions overlap or either side is constant there.
    """
    ma, mb = np.isfinite(a), np.isfinite(b)
    # centring each row first keeps the sums small (no cancellation for large offsets)
    a0 = np.where(ma, a - _row_means(a, ma), 0.0)
    b0 = np.where(mb, b - _row_means(b, mb), 0.0)
    fa, fb = ma.astype(np.float64), mb.astype(np.float64)
    n = fa @ fb.T
    # a row that only varies by rounding error counts as constant
    noise_a = (1e-10 * np.abs(np.where(ma, a, 0.0)).max(axis=1, initial=0.0)) ** 2
    noise_b = (1e-10 * np.abs(np.where(mb, b, 0.0)).max(axis=1, initial=0.0)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        sa, sb = a0 @ fb.T, fa @ b0.T
        cov = a0 @ b0.T - sa * sb / n
        va = (a0**2) @ fb.T - sa**2 / n
        vb = fa @ (b0**2).T - sb**2 / n
        degenerate = (n < MIN_OVERLAP) | (va <= n * noise_a[:, None]) | (vb <= n * noise_b[None, :])
        r = cov / np.sqrt(va * vb)
    r[degenerate | ~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _row_means(x: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
    counts = mask.sum(axis=1)
    sums = np.where(mask, x, 0.0).sum(axis=1)
    return (sums / np.maximum(counts, 1))[:, None]


def spearman_matrix(z: FloatArray) -> FloatArray:
    """Spearman correlation of the rows of ``z`` (ranks over each pair's common positions)."""
    from scipy.stats import rankdata

    finite = np.isfinite(z)
    if finite.all():
        return pearson_matrix(rankdata(z, axis=1), rankdata(z, axis=1))
    k = len(z)
    r = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i, k):
            both = finite[i] & finite[j]
            if both.sum() < MIN_OVERLAP:
                continue
            ranks = np.vstack([rankdata(z[i, both]), rankdata(z[j, both])])
            r[i, j] = r[j, i] = pearson_matrix(ranks[:1], ranks[1:])[0, 0]
    return r


def best_lags(z: FloatArray, max_lag: int) -> tuple[list[FloatArray], FloatArray, FloatArray]:
    """Cross-correlation of every pair at lags ``0..max_lag`` both ways.

    Returns ``curves`` (``curves[k][i, j]`` = r of ``z[i](t)`` with ``z[j](t + k)``), and per
    pair the best lag (largest ``|r|``, the smallest shift on ties) and its ``r``.
    """
    n = z.shape[1]
    curves = [pearson_matrix(z[:, : n - k], z[:, k:]) for k in range(min(max_lag, n - 1) + 1)]
    k = len(z)
    lag = np.full((k, k), np.nan)
    best = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            candidates = [(0, curves[0][i, j])]
            for shift in range(1, len(curves)):
                candidates.append((shift, curves[shift][i, j]))
                candidates.append((-shift, curves[shift][j, i]))
            valid = [(s, r) for s, r in candidates if math.isfinite(r)]
            if valid:
                s, r = max(valid, key=lambda c: (round(abs(c[1]), 12), -abs(c[0])))
                lag[i, j], best[i, j] = s, r
    return curves, lag, best


async def _spacing(store: TimeSeriesStore, key: str, start: int, end: int) -> float | None:
    """Mean time between the samples of ``key`` in [start, end]; None below two samples."""
    first = await store.range(key, RangeQuery(from_ts=start, to_ts=end, count=1))
    last = await store.range(key, RangeQuery(from_ts=start, to_ts=end, count=1, reverse=True))
    if not first:
        return None
    count = await count_samples(store, key, start, end)
    return (int(last[0][0]) - int(first[0][0])) / (count - 1) if count > 1 else None


def _auto_bucket(job: JobRun, keys: list[str], start: int, end: int) -> int:
    """The largest mean sampling interval among the series (at most AUTO_BUCKETS buckets)."""
    spacings = [job.run(_spacing(job.store, key, start, end)) for key in keys]
    widest = max((s for s in spacings if s is not None), default=1.0)
    return max(1, math.ceil(widest - 1e-9), math.ceil((end - start + 1) / AUTO_BUCKETS))


def _matrix(values: FloatArray) -> list[list[float | None]]:
    return [[None if not math.isfinite(x) else round(float(x), 12) for x in row] for row in values]


def run(params: CorrelateParams, job: JobRun) -> dict[str, Any]:
    """Pearson/Spearman matrix and best-lag cross-correlation of series; heat map."""
    keys = list(params.keys or [])
    job.progress(2, "finding the range")
    bounds = job.run(data_bounds(job.store, keys, params.from_ms, params.to_ms))
    if bounds is None:
        raise JobNotPossible("the selected series have no data in the range")
    start, end = bounds
    bucket = int(params.bucket) if params.bucket is not None else _auto_bucket(job, keys, *bounds)
    size = (end - start) // bucket + 1
    if size > params.max_buckets:
        raise JobNotPossible(
            f"a bucket of {bucket} ms makes {size} buckets, more than max_buckets "
            f"({params.max_buckets}): give a larger bucket or a narrower range"
        )
    grid = np.full((len(keys), size), np.nan)
    for i, key in enumerate(keys):
        job.progress(5 + 45 * i // len(keys), f"reading {key}")
        t, v = read_array(job, key, start, end, agg=params.agg, bucket=bucket)
        grid[i, (t - start) // bucket] = v
    job.progress(55, "correlating")
    pearson = pearson_matrix(grid, grid)
    spearman = spearman_matrix(grid)
    lags = DEFAULT_LAGS if params.max_lag is None else int(params.max_lag) // bucket
    job.progress(65, f"cross-correlating at up to {lags} buckets of lag")
    curves, best_lag, best_r = best_lags(grid, lags)
    pairs = []
    overlap = np.isfinite(grid).astype(np.float64)
    overlap = overlap @ overlap.T
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            lag = None if not math.isfinite(best_lag[i, j]) else int(best_lag[i, j])
            pairs.append(
                {
                    "a": keys[i],
                    "b": keys[j],
                    "n": int(overlap[i, j]),
                    "pearson": _matrix(pearson[i : i + 1, j : j + 1])[0][0],
                    "spearman": _matrix(spearman[i : i + 1, j : j + 1])[0][0],
                    "best_lag": lag,
                    "best_lag_ms": None if lag is None else lag * bucket,
                    "best_r": _matrix(best_r[i : i + 1, j : j + 1])[0][0],
                }
            )
    job.progress(80, "writing the files")
    job.save_file("correlation.csv", _matrix_csv(keys, pearson, spearman), "text/csv")
    job.save_file("lags.csv", _lags_csv(keys, curves, bucket), "text/csv")
    job.save_file("aligned.csv", _aligned_csv(keys, grid, start, bucket), "text/csv")
    if params.formats:
        chosen = pearson if params.heatmap == "pearson" else spearman
        title = params.title or f"{params.heatmap.capitalize()} correlation"
        figure = correlation_heatmap(
            keys, _matrix(chosen), title=title, width=params.width, height=params.height
        )
        save_figure(job, figure, "heatmap", title, params.formats)
    job.progress(100, "done")
    return {
        "keys": keys,
        "bucket_ms": bucket,
        "aggregation": params.agg,
        "buckets": size,
        "max_lag_buckets": len(curves) - 1,
        "from": start,
        "to": end,
        "pearson": _matrix(pearson),
        "spearman": _matrix(spearman),
        "pairs": pairs,
        "files": [f.name for f in job.files],
    }


def _cell(x: float) -> Any:
    return "" if not math.isfinite(x) else repr(float(x))


def _matrix_csv(keys: list[str], pearson: FloatArray, spearman: FloatArray) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", "key", *keys])
    for method, matrix in (("pearson", pearson), ("spearman", spearman)):
        for key, row in zip(keys, matrix, strict=True):
            writer.writerow([method, key, *(_cell(x) for x in row)])
    return out.getvalue().encode()


def _lags_csv(keys: list[str], curves: list[FloatArray], bucket: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["a", "b", "lag", "lag_ms", "r"])
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            for shift in range(-(len(curves) - 1), len(curves)):
                r = curves[shift][i, j] if shift >= 0 else curves[-shift][j, i]
                writer.writerow([keys[i], keys[j], shift, shift * bucket, _cell(r)])
    return out.getvalue().encode()


def _aligned_csv(keys: list[str], grid: FloatArray, start: int, bucket: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t", *keys])
    for n in range(grid.shape[1]):
        if np.isfinite(grid[:, n]).any():
            writer.writerow([start + n * bucket, *(_cell(x) for x in grid[:, n])])
    return out.getvalue().encode()


JOB_TYPE = JobType.of("correlate", CorrelateParams, prepare, run)
