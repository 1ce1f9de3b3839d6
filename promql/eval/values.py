"""Values during evaluation, each over a whole grid of evaluation times at once.

An instant vector over ``n`` steps is a :class:`Vec`: one row per label set, a ``(rows, n)``
value matrix and a presence mask (a NaN is a value, so presence is kept apart). A scalar is a
:class:`Scal` (one value per step). A range-vector argument is a :class:`RangeInput`: raw
samples per series plus the window end of each step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promql import ast
from promql.errors import ExecutionError
from promql.model import Labels

__all__ = ["RangeInput", "Scal", "Str", "Value", "Vec", "check_no_duplicates", "merge_duplicates"]

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


@dataclass
class Vec:
    """An instant vector at each of ``n`` evaluation times."""

    labels: list[Labels]
    values: np.ndarray  # (rows, n) float64
    present: np.ndarray  # (rows, n) bool

    @classmethod
    def empty(cls, n: int) -> Vec:
        """A vector with no series."""
        return cls([], np.empty((0, n)), np.empty((0, n), dtype=bool))

    @classmethod
    def from_rows(
        cls, labels: list[Labels], values: Sequence[Any], present: Sequence[Any], n: int
    ) -> Vec:
        """Stack per-row arrays (rows never present anywhere are dropped)."""
        keep = [i for i, p in enumerate(present) if p.any()]
        if not keep:
            return cls.empty(n)
        return cls(
            [labels[i] for i in keep],
            np.vstack([values[i] for i in keep]),
            np.vstack([present[i] for i in keep]),
        )

    @property
    def steps(self) -> int:
        return int(self.values.shape[1])

    def compact(self) -> Vec:
        """Without the rows that are present at no step."""
        alive = self.present.any(axis=1)
        if alive.all():
            return self
        idx = np.flatnonzero(alive)
        return Vec([self.labels[i] for i in idx], self.values[idx], self.present[idx])

    def select(self, rows: list[int] | np.ndarray) -> Vec:
        """A vector of some rows, in the order given."""
        idx = np.asarray(rows, dtype=np.int64)
        return Vec([self.labels[i] for i in idx], self.values[idx], self.present[idx])


@dataclass
class Scal:
    """A scalar at each of ``n`` evaluation times."""

    values: np.ndarray  # (n,)


@dataclass
class Str:
    """A string literal."""

    value: str


@dataclass
class RangeInput:
    """A range-vector argument: per series its samples (staleness markers removed), and for
    each evaluation step the end of its window ``[refs - range_ms, refs]``."""

    series: list[tuple[Labels, np.ndarray, np.ndarray]]
    refs: np.ndarray  # (n,) int64
    range_ms: int
    selector: ast.VectorSelector | None  # None for a subquery

    def windows(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per step, the index of the first sample in the window and one past the last."""
        lo = np.searchsorted(t, self.refs - self.range_ms, "left")
        hi = np.searchsorted(t, self.refs, "right")
        return lo, hi


Value = Vec | Scal | Str


def merge_duplicates(vec: Vec) -> Vec:
    """Merge rows with the same label set (present at different steps), as Prometheus'
    range evaluation does; two present at the same step are Prometheus' error."""
    if len(set(vec.labels)) == len(vec.labels):
        return vec
    rows: dict[Labels, list[int]] = defaultdict(list)
    for i, labels in enumerate(vec.labels):
        rows[labels].append(i)
    out_labels, out_values, out_present = [], [], []
    for labels, idx in rows.items():
        if len(idx) == 1:
            out_labels.append(labels)
            out_values.append(vec.values[idx[0]])
            out_present.append(vec.present[idx[0]])
            continue
        present = vec.present[idx]
        if (present.sum(axis=0) > 1).any():
            raise ExecutionError(DUPLICATE_LABELSET)
        which = np.argmax(present, axis=0)
        out_labels.append(labels)
        out_values.append(vec.values[idx][which, np.arange(vec.steps)])
        out_present.append(present.any(axis=0))
    return Vec.from_rows(out_labels, out_values, out_present, vec.steps)


def check_no_duplicates(vec: Vec) -> None:
    """Prometheus' check over a whole matrix (series with any point), used after range
    functions and unary minus: two series with one label set is an error."""
    if len(set(vec.labels)) != len(vec.labels):
        raise ExecutionError(DUPLICATE_LABELSET)
