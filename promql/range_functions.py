"""Functions over range vectors (``rate(x[5m])``, ``*_over_time``...), Prometheus 2.42's way.

Each kernel takes one series' samples and the windows of every evaluation step at once
(``lo``/``hi`` sample indices from ``searchsorted``) and returns values and presence per
step; a step whose window is empty (or too short for the function) has no output, as in
Prometheus. Windows are closed, ``[end - range, end]``; staleness markers are not samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from promql.eval.values import RangeInput, Vec, check_no_duplicates
from promql.labels import drop_name

try:
    from promql import _kernels
except ImportError:  # built without a C compiler: numpy computes rate, increase and delta
    _kernels = None  # type: ignore[assignment]

COMPILED = _kernels is not None
"""Whether rate, increase and delta run in C (the same bits as the numpy kernel)."""

__all__ = ["RANGE_FUNCTIONS", "WindowArgs", "evaluate_range_function"]

_MAX_GATHER = 2_000_000  # elements of a (steps x window) matrix built at once


@dataclass
class WindowArgs:
    """What a kernel sees: one series' samples and the windows of all steps."""

    t: np.ndarray
    v: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    refs: np.ndarray  # window ends (evaluation time minus offset, or the @ time)
    range_ms: int
    eval_ts: np.ndarray  # evaluation times (predict_linear extrapolates from these)
    param: np.ndarray | None  # a scalar argument per step (quantile, predict duration)

    @property
    def count(self) -> np.ndarray:
        return self.hi - self.lo


Kernel = Callable[[WindowArgs], tuple[np.ndarray, np.ndarray]]


def _gather(w: WindowArgs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples of the given steps' windows as a NaN-padded ``(steps, K)`` matrix."""
    cnt = w.count[rows]
    width = int(cnt.max()) if len(cnt) else 0
    pos = np.arange(width)
    mask = pos[None, :] < cnt[:, None]
    idx = np.where(mask, w.lo[rows][:, None] + pos[None, :], 0)
    return np.where(mask, w.v[idx], np.nan), mask


def _per_window(
    w: WindowArgs, minimum: int, reduce: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``reduce(values, mask, rows)`` to the gathered windows, in chunks of steps."""
    n = len(w.lo)
    out = np.full(n, np.nan)
    present = w.count >= minimum
    rows = np.flatnonzero(present)
    if len(rows):
        width = max(int(w.count[rows].max()), 1)
        chunk = max(1, _MAX_GATHER // width)
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            values, mask = _gather(w, part)
            out[part] = reduce(values, mask, part)
    return out, present


def _extrapolated(w: WindowArgs, counter: bool, rate: bool) -> tuple[np.ndarray, np.ndarray]:
    """rate, increase and delta: Prometheus' extrapolation to the window's edges, counter
    resets added back for rate and increase."""
    if _kernels is not None:
        return _extrapolated_compiled(w, counter, rate)
    return _extrapolated_numpy(w, counter, rate)


def _extrapolated_compiled(
    w: WindowArgs, counter: bool, rate: bool
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_extrapolated_numpy`'s arithmetic, in the same order, in one pass in C."""
    assert _kernels is not None
    values = np.empty(len(w.lo), dtype=np.float64)
    present = np.empty(len(w.lo), dtype=bool)
    _kernels.extrapolated(
        np.ascontiguousarray(w.t, dtype=np.int64),
        np.ascontiguousarray(w.v, dtype=np.float64),
        np.ascontiguousarray(w.lo, dtype=np.int64),
        np.ascontiguousarray(w.hi, dtype=np.int64),
        np.ascontiguousarray(w.refs, dtype=np.int64),
        w.range_ms,
        counter,
        rate,
        values,
        present,
    )
    return values, present


def _extrapolated_numpy(w: WindowArgs, counter: bool, rate: bool) -> tuple[np.ndarray, np.ndarray]:
    cnt = w.count
    present = cnt >= 2
    first = np.where(present, w.lo, 0)
    last = np.where(present, w.hi - 1, 0)
    v, t = w.v, w.t
    result = v[last] - v[first]
    if counter:
        # Prometheus adds the value before each drop; only +Inf can be such a value
        # among non-finite ones (nothing is below -Inf, NaN compares false), so +Inf
        # drops are counted apart from the finite sum.
        drop = v[1:] < v[:-1]
        if drop.any():
            dropped = np.concatenate(([0.0], np.where(drop, v[:-1], 0.0)))
            infinite = np.isinf(dropped)
            corr = np.cumsum(np.where(infinite, 0.0, dropped))
            result = result + (corr[last] - corr[first])
            if infinite.any():
                infs = np.cumsum(infinite)
                result = np.where(infs[last] > infs[first], result + np.inf, result)
    range_start = w.refs - w.range_ms
    to_start = (t[first] - range_start) / 1000
    to_end = (w.refs - t[last]) / 1000
    sampled = (t[last] - t[first]) / 1000
    with np.errstate(divide="ignore", invalid="ignore"):
        average = sampled / np.maximum(cnt - 1, 1)
        if counter:
            zero_ok = (result > 0) & (v[first] >= 0)
            to_zero = sampled * (v[first] / result)
            to_start = np.where(zero_ok & (to_zero < to_start), to_zero, to_start)
        threshold = average * 1.1
        interval = (
            sampled
            + np.where(to_start < threshold, to_start, average / 2)
            + np.where(to_end < threshold, to_end, average / 2)
        )
        factor = interval / sampled
        if rate:
            factor = factor / (w.range_ms / 1000)
        result = result * factor
    return result, present


def _instant_value(w: WindowArgs, rate: bool) -> tuple[np.ndarray, np.ndarray]:
    present = w.count >= 2
    last = np.where(present, w.hi - 1, 1)
    prev = last - 1
    v, t = w.v, w.t
    result = v[last] - v[prev]
    if rate:
        result = np.where(v[last] < v[prev], v[last], result)
        result = result / ((t[last] - t[prev]) / 1000)
    return result, present


def _pair_count(w: WindowArgs, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Count of consecutive-sample pairs flagged in ``pairs`` (length n-1) per window."""
    cum = np.concatenate(([0], np.cumsum(pairs, dtype=np.int64)))
    present = w.count >= 1
    first = np.where(present, w.lo, 0)
    last = np.where(present, w.hi - 1, 0)
    return (cum[last] - cum[first]).astype(np.float64), present


def _changes(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    a, b = w.v[1:], w.v[:-1]
    return _pair_count(w, (a != b) & ~(np.isnan(a) & np.isnan(b)))


def _resets(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return _pair_count(w, w.v[1:] < w.v[:-1])


def _count(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return w.count.astype(np.float64), w.count >= 1


def _present(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return np.ones(len(w.lo)), w.count >= 1


def _last(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    present = w.count >= 1
    return w.v[np.where(present, w.hi - 1, 0)], present


def _sum(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return _per_window(w, 1, lambda x, m, _: np.where(m, x, 0.0).sum(axis=1))


def _avg(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    def reduce(x: np.ndarray, m: np.ndarray, _: np.ndarray) -> np.ndarray:
        return np.where(m, x, 0.0).sum(axis=1) / m.sum(axis=1)

    return _per_window(w, 1, reduce)


def _min(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return _per_window(w, 1, lambda x, m, _: np.fmin.reduce(x, axis=1))


def _max(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return _per_window(w, 1, lambda x, m, _: np.fmax.reduce(x, axis=1))


def _welford(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Population variance by Welford's method, in sample order (as Prometheus)."""
    rows = x.shape[0]
    count = np.zeros(rows)
    mean = np.zeros(rows)
    aux = np.zeros(rows)
    for k in range(x.shape[1]):
        col = m[:, k]
        value = x[:, k]
        new_count = count + col
        delta = value - mean
        with np.errstate(invalid="ignore", divide="ignore"):
            new_mean = mean + delta / new_count
            new_aux = aux + delta * (value - new_mean)
        mean = np.where(col, new_mean, mean)
        aux = np.where(col, new_aux, aux)
        count = new_count
    return aux / count


def _stdvar(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return _per_window(w, 1, lambda x, m, _: _welford(x, m))


def _stddev(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    return _per_window(w, 1, lambda x, m, _: np.sqrt(_welford(x, m)))


def quantile_of_rows(q: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Prometheus' ``quantile`` of each row's masked values (NaN sorts first), per row q."""
    count = m.sum(axis=1)
    nans = (np.isnan(x) & m).sum(axis=1)
    ordered = np.sort(np.where(m, x, np.nan), axis=1)  # real values first, NaNs after
    n = count.astype(np.float64)
    with np.errstate(invalid="ignore"):
        rank = q * (n - 1)
        lower = np.maximum(0, np.floor(rank))
        upper = np.minimum(n - 1, lower + 1)
        weight = rank - np.floor(rank)

    def pick(index: np.ndarray) -> np.ndarray:
        idx = np.nan_to_num(index, nan=0).astype(np.int64)
        shifted = np.clip(idx - nans, 0, max(x.shape[1] - 1, 0))
        values = np.take_along_axis(ordered, shifted[:, None], axis=1)[:, 0]
        return np.where(idx < nans, np.nan, values)

    result = pick(lower) * (1 - weight) + pick(upper) * weight
    result = np.where(q < 0, -np.inf, result)
    result = np.where(q > 1, np.inf, result)
    return np.where(count == 0, np.nan, result)


def _quantile(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    assert w.param is not None
    param = w.param
    return _per_window(w, 1, lambda x, m, rows: quantile_of_rows(param[rows], x, m))


def _regression(
    x: np.ndarray, m: np.ndarray, ts: np.ndarray, intercept_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus' least-squares slope and intercept (at ``intercept_ms``) per row."""
    n = m.sum(axis=1).astype(np.float64)
    xs = np.where(m, (ts - intercept_ms[:, None]) / 1e3, 0.0)
    ys = np.where(m, x, 0.0)
    first = x[:, 0]
    const = np.all(~m | (x == first[:, None]), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sum_x = xs.sum(axis=1)
        sum_y = ys.sum(axis=1)
        sum_xy = (xs * ys).sum(axis=1)
        sum_x2 = (xs * xs).sum(axis=1)
        cov = sum_xy - sum_x * sum_y / n
        var = sum_x2 - sum_x * sum_x / n
        slope = cov / var
        intercept = sum_y / n - slope * sum_x / n
    inf_const = const & np.isinf(first)
    slope = np.where(const, np.where(inf_const, np.nan, 0.0), slope)
    intercept = np.where(const, np.where(inf_const, np.nan, first), intercept)
    return slope, intercept


def _window_times(w: WindowArgs, rows: np.ndarray, width: int) -> np.ndarray:
    pos = np.arange(width)
    idx = np.minimum(w.lo[rows][:, None] + pos[None, :], len(w.t) - 1)
    return w.t[idx]


def _deriv(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    def reduce(x: np.ndarray, m: np.ndarray, rows: np.ndarray) -> np.ndarray:
        ts = _window_times(w, rows, x.shape[1])
        return _regression(x, m, ts, ts[:, 0])[0]

    return _per_window(w, 2, reduce)


def _predict_linear(w: WindowArgs) -> tuple[np.ndarray, np.ndarray]:
    assert w.param is not None
    param = w.param

    def reduce(x: np.ndarray, m: np.ndarray, rows: np.ndarray) -> np.ndarray:
        ts = _window_times(w, rows, x.shape[1])
        slope, intercept = _regression(x, m, ts, w.eval_ts[rows])
        return slope * param[rows] + intercept

    return _per_window(w, 2, reduce)


RANGE_FUNCTIONS: dict[str, Kernel] = {
    "rate": lambda w: _extrapolated(w, counter=True, rate=True),
    "increase": lambda w: _extrapolated(w, counter=True, rate=False),
    "delta": lambda w: _extrapolated(w, counter=False, rate=False),
    "irate": lambda w: _instant_value(w, rate=True),
    "idelta": lambda w: _instant_value(w, rate=False),
    "deriv": _deriv,
    "predict_linear": _predict_linear,
    "resets": _resets,
    "changes": _changes,
    "avg_over_time": _avg,
    "sum_over_time": _sum,
    "min_over_time": _min,
    "max_over_time": _max,
    "count_over_time": _count,
    "last_over_time": _last,
    "stddev_over_time": _stddev,
    "stdvar_over_time": _stdvar,
    "quantile_over_time": _quantile,
    "present_over_time": _present,
    "absent_over_time": _present,  # marks the steps with data; the caller inverts
}


def evaluate_range_function(
    name: str,
    rin: RangeInput,
    eval_ts: np.ndarray,
    param: np.ndarray | None,
    check: Callable[[], None],
) -> Vec:
    """Apply a range-vector function to every series of ``rin`` at every step.

    The metric name is dropped except by ``last_over_time``; two output series with one
    label set is Prometheus' error. ``check`` is called per series (deadline).
    """
    kernel = RANGE_FUNCTIONS[name]
    n = len(eval_ts)
    labels, values, present = [], [], []
    for series_labels, t, v in rin.series:
        check()
        lo, hi = rin.windows(t)
        if not bool((hi > lo).any()):
            continue
        w = WindowArgs(t, v, lo, hi, rin.refs, rin.range_ms, eval_ts, param)
        vals, pres = kernel(w)
        if not pres.any():
            continue
        labels.append(series_labels if name == "last_over_time" else drop_name(series_labels))
        values.append(vals)
        present.append(pres)
    out = Vec.from_rows(labels, values, present, n)
    if name != "absent_over_time":
        check_no_duplicates(out)
    return out
