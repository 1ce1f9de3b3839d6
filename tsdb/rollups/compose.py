"""How each aggregator is recomposed from the parts tiers keep, bucket by bucket.

A requested bucket is served by pieces (parts of tiers, or raw samples): each gives, per
requested bucket it touches, the parts the aggregator needs. Merging them:

===========  =================================================================
aggregator   from the parts
===========  =================================================================
sum, count   sum of the pieces' sums, counts
min, max     min of mins, max of maxes; ``range`` is max - min
first, last  the first piece's first, the last piece's last (pieces in time order)
avg          sum of sums / sum of counts
var, std     parallel variance: n * var = sum of n_i * var_i + n_i * (mean_i - mean)^2,
             over the finer rows (tier buckets, or the raw part of a bucket); ``.s``
             divides by n - 1 (0 for one sample), std is the square root
twa          does not compose (it interpolates across bucket edges): raw only
===========  =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tsdb.models import Aggregation
from tsdb.rollups.models import Part

__all__ = ["NEEDS", "OVER_TIER", "Partial", "by_rows", "composes", "merge"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_MOMENTS = (Part.COUNT, Part.SUM, Part.VAR)
NEEDS: dict[Aggregation, tuple[Part, ...]] = {
    Aggregation.AVG: (Part.SUM, Part.COUNT),
    Aggregation.SUM: (Part.SUM,),
    Aggregation.COUNT: (Part.COUNT,),
    Aggregation.MIN: (Part.MIN,),
    Aggregation.MAX: (Part.MAX,),
    Aggregation.RANGE: (Part.MIN, Part.MAX),
    Aggregation.FIRST: (Part.FIRST,),
    Aggregation.LAST: (Part.LAST,),
    Aggregation.STD_P: _MOMENTS,
    Aggregation.STD_S: _MOMENTS,
    Aggregation.VAR_P: _MOMENTS,
    Aggregation.VAR_S: _MOMENTS,
}
"""The parts each composable aggregator needs (``twa`` is not here: raw only)."""

OVER_TIER: dict[Part, str] = {
    Part.SUM: "sum",
    Part.COUNT: "sum",
    Part.MIN: "min",
    Part.MAX: "max",
    Part.FIRST: "first",
    Part.LAST: "last",
}
"""The module's aggregator that folds a tier part's buckets into a wider bucket (var.p has
none: its rows are read as they are and merged here)."""


def composes(aggregation: Aggregation) -> bool:
    """Whether ``aggregation`` can be answered from tiers."""
    return aggregation in NEEDS


def by_rows(aggregation: Aggregation) -> bool:
    """Whether a tier piece must be read row by row (variance) rather than folded by the
    module into the requested buckets."""
    return NEEDS[aggregation] == _MOMENTS


@dataclass(frozen=True)
class Partial:
    """One piece's contribution: rows in time order, each with the index of the requested
    bucket it belongs to and the values of the parts."""

    k: Ints
    parts: dict[Part, Floats]


def merge(partials: list[Partial], aggregation: Aggregation) -> tuple[Ints, Floats]:
    """The requested buckets (indexes, ascending) that have samples, and their values."""
    partials = [p for p in partials if len(p.k)]
    if not partials:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    k = np.concatenate([p.k for p in partials])
    parts = {part: np.concatenate([p.parts[part] for p in partials]) for part in NEEDS[aggregation]}
    order = np.argsort(k, kind="stable")  # pieces come in time order: keep it within a bucket
    if not np.all(order[1:] > order[:-1]):
        k = k[order]
        parts = {part: values[order] for part, values in parts.items()}
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], _finish(aggregation, parts, starts)


def _finish(aggregation: Aggregation, parts: dict[Part, Floats], starts: Ints) -> Floats:
    ends = np.r_[starts[1:], len(next(iter(parts.values())))]
    if aggregation == Aggregation.SUM:
        return np.add.reduceat(parts[Part.SUM], starts)
    if aggregation == Aggregation.COUNT:
        return np.add.reduceat(parts[Part.COUNT], starts)
    if aggregation == Aggregation.AVG:
        return np.add.reduceat(parts[Part.SUM], starts) / np.add.reduceat(parts[Part.COUNT], starts)
    if aggregation == Aggregation.MIN:
        return np.minimum.reduceat(parts[Part.MIN], starts)
    if aggregation == Aggregation.MAX:
        return np.maximum.reduceat(parts[Part.MAX], starts)
    if aggregation == Aggregation.RANGE:
        return np.maximum.reduceat(parts[Part.MAX], starts) - np.minimum.reduceat(
            parts[Part.MIN], starts
        )
    if aggregation == Aggregation.FIRST:
        return parts[Part.FIRST][starts]
    if aggregation == Aggregation.LAST:
        return parts[Part.LAST][ends - 1]
    return _variance(aggregation, parts, starts, ends)


def _variance(
    aggregation: Aggregation, parts: dict[Part, Floats], starts: Ints, ends: Ints
) -> Floats:
    n, s, v = parts[Part.COUNT], parts[Part.SUM], parts[Part.VAR]
    total_n = np.add.reduceat(n, starts)
    mean = np.add.reduceat(s, starts) / total_n
    spread = s / n - np.repeat(mean, ends - starts)
    m2 = np.add.reduceat(n * v + n * spread * spread, starts)
    if aggregation in (Aggregation.VAR_S, Aggregation.STD_S):
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(total_n > 1, m2 / (total_n - 1), 0.0)
    else:
        var = m2 / total_n
    if aggregation in (Aggregation.STD_P, Aggregation.STD_S):
        return np.sqrt(np.maximum(var, 0.0))
    return var
