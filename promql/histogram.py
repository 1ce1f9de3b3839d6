"""``histogram_quantile`` over classic ``le`` buckets, as Prometheus 2.42 computes it.

Buckets are grouped by their labels without ``le`` (the metric name is part of the group
and dropped from the result); per step, buckets with the same bound are summed, counts
made monotonic (Prometheus' fix for buckets scraped at slightly different times), and the
quantile interpolated linearly inside its bucket. No ``+Inf`` bucket, fewer than two
buckets or zero observations give NaN; q < 0 gives -Inf and q > 1 +Inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from promql.eval.values import Vec, merge_duplicates
from promql.labels import METRIC_NAME, get
from promql.model import Labels
from promql.params import go_parse_float

__all__ = ["bucket_quantile", "histogram_quantile"]


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' ``bucketQuantile`` for one step's ``(upper bound, count)`` pairs."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return math.nan
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -math.inf
    for b in merged:
        if b[1] > highest:
            highest = b[1]
        elif b[1] < highest:
            b[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    index = len(merged) - 1
    for i in range(len(merged) - 1):
        if merged[i][1] >= rank:
            index = i
            break
    if index == len(merged) - 1:
        return merged[-2][0]
    if index == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start = 0.0
    end, count = merged[index]
    if index > 0:
        start = merged[index - 1][0]
        count -= merged[index - 1][1]
        rank -= merged[index - 1][1]
    return start + (end - start) * _go_div(rank, count)


def _go_div(a: float, b: float) -> float:
    """``a / b`` with IEEE semantics (Go's), where Python raises on a zero divisor."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _vectorized(q: np.ndarray, bounds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``bucket_quantile`` for steps sharing one bucket layout (sorted distinct bounds,
    NaN-free counts of shape ``(buckets, steps)``)."""
    steps = counts.shape[1]
    if not (math.isinf(bounds[-1]) and bounds[-1] > 0) or len(bounds) < 2:
        result = np.full(steps, np.nan)
    else:
        counts = np.maximum.accumulate(counts, axis=0)
        observations = counts[-1]
        rank = q * observations
        reached = counts[:-1] >= rank[None, :]
        index = np.where(reached.any(axis=0), reached.argmax(axis=0), len(bounds) - 1)
        inner = np.minimum(index, len(bounds) - 2)
        end = bounds[inner]
        start = np.where(inner > 0, bounds[np.maximum(inner - 1, 0)], 0.0)
        cols = np.arange(steps)
        below = np.where(inner > 0, counts[np.maximum(inner - 1, 0), cols], 0.0)
        with np.errstate(all="ignore"):
            result = start + (end - start) * ((rank - below) / (counts[inner, cols] - below))
        result = np.where(index == len(bounds) - 1, bounds[-2], result)
        result = np.where((index == 0) & (bounds[0] <= 0), bounds[0], result)
        result = np.where(observations == 0, np.nan, result)
    result = np.where(q < 0, -np.inf, result)
    result = np.where(q > 1, np.inf, result)
    return np.where(np.isnan(q), np.nan, result)


def _group_quantile(
    q: np.ndarray, bounds: np.ndarray, values: np.ndarray, present: np.ndarray
) -> np.ndarray:
    steps = values.shape[1]
    out = np.full(steps, np.nan)
    order = np.argsort(bounds, kind="stable")
    bounds, values, present = bounds[order], values[order], present[order]
    if np.isnan(values[present]).any() or np.isnan(bounds).any():
        for s in range(steps):  # NaN counts or bounds: Prometheus' exact scalar path
            rows = np.flatnonzero(present[:, s])
            if len(rows):
                out[s] = bucket_quantile(
                    float(q[s]), [(float(bounds[r]), float(values[r, s])) for r in rows]
                )
        return out
    patterns, inverse = np.unique(present.T, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for p, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        cols = np.flatnonzero(inverse == p)
        rows = np.flatnonzero(pattern)
        distinct, slot = np.unique(bounds[rows], return_inverse=True)
        merged = np.zeros((len(distinct), len(cols)))
        np.add.at(merged, slot, values[np.ix_(rows, cols)])
        out[cols] = _vectorized(q[cols], distinct, merged)
    return out


def histogram_quantile(q: np.ndarray, vec: Vec, check: Callable[[], None]) -> Vec:
    """``histogram_quantile(q, buckets)`` at every step."""
    n = vec.steps
    groups: dict[Labels, list[tuple[int, float]]] = {}
    for i, labels in enumerate(vec.labels):
        bound = go_parse_float(get(labels, "le"))
        if bound is None:
            continue
        key = tuple(p for p in labels if p[0] != "le")
        groups.setdefault(key, []).append((i, bound))
    out_labels, out_values, out_present = [], [], []
    for key, members in groups.items():
        check()
        rows = [i for i, _ in members]
        bounds = np.array([b for _, b in members])
        present = vec.present[rows]
        out_labels.append(tuple(p for p in key if p[0] != METRIC_NAME))
        out_values.append(_group_quantile(q, bounds, vec.values[rows], present))
        out_present.append(present.any(axis=0))
    return merge_duplicates(Vec.from_rows(out_labels, out_values, out_present, n))
