"""Aggregation operators (``sum by (x) (...)``...) with Prometheus 2.42's semantics.

Groups are formed per input series (the grouping key does not change across steps), in
first-seen order; values are accumulated series by series over all steps at once, in the
order Prometheus accumulates them (so sums and means round the same way).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from promql.errors import ExecutionError
from promql.eval.values import Vec, merge_duplicates
from promql.format import format_float_f
from promql.labels import METRIC_NAME, keep, remove, set_label, valid_label_name
from promql.model import Labels
from promql.range_functions import quantile_of_rows

__all__ = ["aggregate"]


def _group_labels(labels: Labels, grouping: tuple[str, ...], without: bool) -> Labels:
    if without:
        return remove(labels, {*grouping, METRIC_NAME})
    return keep(labels, set(grouping))


def _groups(
    vec: Vec, grouping: tuple[str, ...], without: bool
) -> tuple[list[Labels], list[list[int]]]:
    index: dict[Labels, int] = {}
    members: list[list[int]] = []
    for i, labels in enumerate(vec.labels):
        key = _group_labels(labels, grouping, without)
        if key not in index:
            index[key] = len(members)
            members.append([])
        members[index[key]].append(i)
    return list(index), members


def _accumulate(
    vec: Vec, rows: list[int], op: str, check: Callable[[], None]
) -> tuple[np.ndarray, np.ndarray]:
    """One group's value and presence at every step, accumulated in input order."""
    n = vec.steps
    count = np.zeros(n)
    value = np.zeros(n)
    mean = np.zeros(n)
    for i in rows:
        check()
        p = vec.present[i]
        x = vec.values[i]
        first = p & (count == 0)
        later = p & (count > 0)
        count = count + p
        with np.errstate(all="ignore"):
            if op == "sum":
                value = np.where(first, x, np.where(later, value + x, value))
            elif op == "avg":
                inf_mean = np.isinf(mean)
                keep_mean = inf_mean & (
                    (np.isinf(x) & ((mean > 0) == (x > 0))) | (~np.isinf(x) & ~np.isnan(x))
                )
                updated = mean + (x / count - mean / count)
                mean = np.where(first, x, np.where(later & ~keep_mean, updated, mean))
            elif op == "max":
                take = later & ((value < x) | np.isnan(value))
                value = np.where(first | take, x, value)
            elif op == "min":
                take = later & ((value > x) | np.isnan(value))
                value = np.where(first | take, x, value)
            elif op in ("stddev", "stdvar"):
                delta = x - mean
                new_mean = mean + delta / count
                new_value = value + delta * (x - new_mean)
                mean = np.where(first, x, np.where(later, new_mean, mean))
                value = np.where(first, 0.0, np.where(later, new_value, value))
    present = count > 0
    with np.errstate(all="ignore"):
        if op == "avg":
            value = mean
        elif op == "count":
            value = count.copy()
        elif op == "group":
            value = np.ones(n)
        elif op == "stdvar":
            value = value / count
        elif op == "stddev":
            value = np.sqrt(value / count)
    return value, present


def _select_k(vec: Vec, members: list[list[int]], k: np.ndarray, top: bool) -> Vec:
    """``topk``/``bottomk``: the input series kept at each step (labels unchanged)."""
    n = vec.steps
    if not np.all(np.isfinite(k) & (np.abs(k) < 2**63)):
        bad = k[~(np.isfinite(k) & (np.abs(k) < 2**63))][0]
        raise ExecutionError(f"Scalar value {bad:g} overflows int64")
    kk = np.trunc(k).astype(np.int64)
    selected = np.zeros_like(vec.present)
    for rows in members:
        values = vec.values[rows]
        present = vec.present[rows]
        nan = np.isnan(values)
        key = np.where(nan, 0.0, -values if top else values)
        # Rank: present non-NaN by value, then NaN, then absent; ties keep input order.
        category = np.where(present, np.where(nan, 1, 0), 2)
        order = np.lexsort((key, category), axis=0)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(len(rows))[:, None].repeat(n, axis=1), axis=0)
        selected[rows] = present & (rank < kk[None, :])
    out = Vec(list(vec.labels), vec.values, selected)
    return out.compact()


def _quantile(vec: Vec, names: list[Labels], members: list[list[int]], q: np.ndarray) -> Vec:
    values, present = [], []
    for rows in members:
        x = vec.values[rows].T  # (n, rows)
        m = vec.present[rows].T
        values.append(quantile_of_rows(q, x, m))
        present.append(m.any(axis=1))
    return Vec.from_rows(names, values, present, vec.steps)


def _count_values(vec: Vec, label: str, grouping: tuple[str, ...], without: bool) -> Vec:
    if not valid_label_name(label):
        raise ExecutionError(f'invalid label name "{label}"')
    n = vec.steps
    grouping = grouping if without else (*grouping, label)
    rows, steps = np.nonzero(vec.present)
    values = vec.values[rows, steps]
    # Distinct values (by bit pattern, as Go formats -0 and each NaN payload alike), then
    # distinct (series, value) pairs: the Python loop is over those, not over samples.
    uniques, value_id = np.unique(values.view(np.uint64), return_inverse=True)
    value_id = np.asarray(value_id).reshape(-1)
    texts = [format_float_f(float(u)) for u in uniques.view(np.float64)]
    pairs, pair_id = np.unique(rows * len(uniques) + value_id, return_inverse=True)
    pair_id = np.asarray(pair_id).reshape(-1)
    out_index: dict[Labels, int] = {}
    pair_out = np.empty(len(pairs), dtype=np.int64)
    for k, pair in enumerate(pairs.tolist()):
        row, value = divmod(pair, len(uniques))
        key = _group_labels(set_label(vec.labels[row], label, texts[value]), grouping, without)
        pair_out[k] = out_index.setdefault(key, len(out_index))
    counts = np.zeros((len(out_index), n))
    np.add.at(counts, (pair_out[pair_id], steps), 1)
    return Vec.from_rows(list(out_index), list(counts), list(counts > 0), n)


def aggregate(
    op: str,
    vec: Vec,
    grouping: tuple[str, ...],
    without: bool,
    param: np.ndarray | str | None,
    check: Callable[[], None],
) -> Vec:
    """Apply an aggregation operator at every step. ``param`` is the per-step scalar of
    ``topk``/``bottomk``/``quantile`` or the label name of ``count_values``."""
    n = vec.steps
    if op == "count_values":
        assert isinstance(param, str)
        return merge_duplicates(_count_values(vec, param, grouping, without))
    if not vec.labels:
        return Vec.empty(n)
    names, members = _groups(vec, grouping, without)
    if op in ("topk", "bottomk"):
        assert isinstance(param, np.ndarray)
        return _select_k(vec, members, param, op == "topk")
    if op == "quantile":
        assert isinstance(param, np.ndarray)
        return _quantile(vec, names, members, param)
    values, present = [], []
    for rows in members:
        value, pres = _accumulate(vec, rows, op, check)
        values.append(value)
        present.append(pres)
    return Vec.from_rows(names, values, present, n)
