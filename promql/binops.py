"""Binary operators between scalars and vectors, with vector matching, as Prometheus 2.42.

Matching keys (signatures) depend only on labels, so they are computed once per series;
the pairing of series is then done for all steps at once, and the checks Prometheus makes
step by step (duplicate series on the "one" side, ambiguous many-to-one matches) are made
on the steps where both sides are present.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from promql import ast
from promql.errors import ExecutionError
from promql.eval.values import Scal, Vec, merge_duplicates
from promql.labels import drop_name, keep, labels_string, remove, signature
from promql.model import Labels

__all__ = ["ARITHMETIC", "COMPARISON", "scalar_scalar", "vector_scalar", "vector_vector"]

ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
DROPS_NAME = frozenset({"+", "-", "*", "/", "%", "^"})  # not atan2, as in Prometheus 2.42
COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})


def _arith(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(a, b)
        return np.arctan2(a, b)


def _compare(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == ">":
            return a > b
        if op == "<":
            return a < b
        if op == ">=":
            return a >= b
        return a <= b


def scalar_scalar(op: str, lhs: Scal, rhs: Scal) -> Scal:
    """Scalar op scalar (comparisons there always carry ``bool``)."""
    if op in COMPARISON:
        return Scal(_compare(op, lhs.values, rhs.values).astype(np.float64))
    return Scal(_arith(op, lhs.values, rhs.values))


def vector_scalar(op: str, vec: Vec, scalar: Scal, scalar_left: bool, return_bool: bool) -> Vec:
    """Vector op scalar, or scalar op vector (``scalar_left``)."""
    s = scalar.values[None, :]
    a, b = (s, vec.values) if scalar_left else (vec.values, s)
    present = vec.present
    if op in COMPARISON:
        keep_mask = _compare(op, a, b)
        if return_bool:
            values = keep_mask.astype(np.float64)
        else:
            values = vec.values
            present = present & keep_mask
    else:
        values = _arith(op, a, b)
    labels = vec.labels
    if op in DROPS_NAME or return_bool:
        labels = [drop_name(lb) for lb in labels]
    return merge_duplicates(Vec(labels, values, present).compact())


def _set_operation(node: ast.Binary, lhs: Vec, rhs: Vec) -> Vec:
    n = lhs.steps
    names = set(node.matching)
    rsig: dict[Labels, np.ndarray] = {}
    for labels, p in zip(rhs.labels, rhs.present, strict=True):
        key = signature(labels, node.on, names)
        rsig[key] = rsig[key] | p if key in rsig else p.copy()
    none = np.zeros(n, dtype=bool)
    if node.op == "and":
        present = [
            p & rsig.get(signature(lb, node.on, names), none)
            for lb, p in zip(lhs.labels, lhs.present, strict=True)
        ]
        out = Vec(list(lhs.labels), lhs.values, np.array(present).reshape(lhs.present.shape))
        return merge_duplicates(out.compact())
    if node.op == "unless":
        present = [
            p & ~rsig.get(signature(lb, node.on, names), none)
            for lb, p in zip(lhs.labels, lhs.present, strict=True)
        ]
        out = Vec(list(lhs.labels), lhs.values, np.array(present).reshape(lhs.present.shape))
        return merge_duplicates(out.compact())
    lsig: dict[Labels, np.ndarray] = {}
    for labels, p in zip(lhs.labels, lhs.present, strict=True):
        key = signature(labels, node.on, names)
        lsig[key] = lsig[key] | p if key in lsig else p.copy()
    rpresent = [
        p & ~lsig.get(signature(lb, node.on, names), none)
        for lb, p in zip(rhs.labels, rhs.present, strict=True)
    ]
    out = Vec(
        list(lhs.labels) + list(rhs.labels),
        np.vstack([lhs.values, rhs.values]),
        np.vstack([lhs.present, np.array(rpresent).reshape(rhs.present.shape)]),
    )
    return merge_duplicates(out.compact())


def _result_labels(node: ast.Binary, many: Labels, one: Labels, card: str) -> Labels:
    labels = many
    if node.op in DROPS_NAME:
        labels = drop_name(labels)
    if card == "one-to-one":
        labels = keep(labels, set(node.matching)) if node.on else remove(labels, set(node.matching))
    for name in node.include:
        value = dict(one).get(name, "")
        labels = tuple(p for p in labels if p[0] != name)
        if value:
            labels = tuple(sorted((*labels, (name, value))))
    if node.return_bool:
        labels = drop_name(labels)
    return labels


def vector_vector(node: ast.Binary, lhs: Vec, rhs: Vec) -> Vec:
    """Vector op vector with ``on``/``ignoring`` and ``group_left``/``group_right``."""
    if node.op in ("and", "or", "unless"):
        return _set_operation(node, lhs, rhs)
    n = lhs.steps
    card = node.card
    many, one = (rhs, lhs) if card == "one-to-many" else (lhs, rhs)
    names = set(node.matching)
    # The "one" side: per signature, its rows; two present at one step is an error.
    one_rows: dict[Labels, list[int]] = defaultdict(list)
    for i, labels in enumerate(one.labels):
        one_rows[signature(labels, node.on, names)].append(i)
    for key, rows in one_rows.items():
        if len(rows) > 1 and (one.present[rows].sum(axis=0) > 1).any():
            side = "left" if card == "one-to-many" else "right"
            raise ExecutionError(
                f"found duplicate series for the match group {labels_string(key)} on the "
                f"{side} hand-side of the operation: many-to-many matching not allowed: "
                "matching labels must be unique on one side"
            )
    out_labels: list[Labels] = []
    out_values: list[np.ndarray] = []
    out_present: list[np.ndarray] = []
    matched_count: dict[Labels, np.ndarray] = {}
    for i, labels in enumerate(many.labels):
        key = signature(labels, node.on, names)
        partners = one_rows.get(key)
        if not partners:
            continue
        for j in partners:
            both = many.present[i] & one.present[j]
            if not both.any():
                continue
            a, b = many.values[i], one.values[j]
            if card == "one-to-many":
                a, b = b, a
            if node.op in COMPARISON:
                keep_mask = _compare(node.op, a, b)
                if node.return_bool:
                    values = keep_mask.astype(np.float64)
                    present = both
                else:
                    values = a
                    present = both & keep_mask
            else:
                values = _arith(node.op, a, b)
                present = both
            if card == "one-to-one":
                seen = matched_count.get(key)
                if seen is not None and (seen & present).any():
                    raise ExecutionError(
                        "multiple matches for labels: many-to-one matching must be explicit "
                        "(group_left/group_right)"
                    )
                matched_count[key] = present if seen is None else seen | present
            out_labels.append(_result_labels(node, labels, one.labels[j], card))
            out_values.append(values)
            out_present.append(present)
    out = Vec.from_rows(out_labels, out_values, out_present, n)
    if card != "one-to-one" and len(set(out.labels)) != len(out.labels):
        try:
            return merge_duplicates(out)
        except ExecutionError:
            raise ExecutionError(
                "multiple matches for labels: grouping labels must ensure unique matches"
            ) from None
    return merge_duplicates(out)
