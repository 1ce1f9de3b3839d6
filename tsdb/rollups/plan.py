"""Which tiers can answer an aggregated read, and which part of the range each serves.

A tier can serve a requested bucket layout when every bucket boundary inside the range is one
of its own (its bucket divides the requested bucket and the alignment is on its grid), and
the aggregator composes from its parts. The coarsest such tier serves what it keeps of the
range (whole tier buckets); what lies before its kept part (older than its retention, or not
yet backfilled), after it (the newest, still open bucket) or at the ragged edges of the range
goes to the next finer tier, and finally to raw samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tsdb.models import Aggregation, RangeQuery
from tsdb.rollups.compose import composes
from tsdb.rollups.config import TierState
from tsdb.rollups.models import Tier

__all__ = ["RAW", "Piece", "friendly_bucket", "pieces", "tiers_may_serve", "usable"]

RAW = "raw"
MAX_TS = 2**53


@dataclass(frozen=True)
class Piece:
    """Raw time ``[start, end]`` (inclusive) served by one tier (``state``) or raw (None)."""

    state: TierState | None
    start: int
    end: int

    @property
    def name(self) -> str:
        return RAW if self.state is None else self.state.tier.name


def usable(states: Sequence[TierState], query: RangeQuery, start: int, end: int) -> list[TierState]:
    """The tiers that can serve ``query`` over ``[start, end]``, coarsest first."""
    if not tiers_may_serve(query):
        return []
    bucket = int(query.bucket_ms or 0)
    align = int(query.align or 0)
    inside = (start - align) // bucket != (end - align) // bucket  # a boundary inside?
    found = [
        s
        for s in states
        if s.covers is not None
        and (not inside or (bucket % s.tier.bucket_ms == 0 and align % s.tier.bucket_ms == 0))
    ]
    return sorted(found, key=lambda s: s.tier.bucket_ms, reverse=True)


def tiers_may_serve(query: RangeQuery) -> bool:
    """Whether tiers could serve ``query`` at all: an aggregator that composes, a bucket, a
    numeric alignment, no value or time filters."""
    return (
        query.aggregation is not None
        and composes(query.aggregation)
        and bool(query.bucket_ms)
        and (query.align is None or isinstance(query.align, int))
        and not query.filter_by_ts
        and query.filter_by_value is None
    )


def pieces(
    start: int,
    end: int,
    tiers: Sequence[TierState],
    data: tuple[int, int] | None = None,
) -> list[Piece]:
    """Cover ``[start, end]`` with the coarsest tiers first (``tiers`` coarsest first), finer
    ones and raw samples for what each leaves out; pieces in time order.

    A tier serves whole buckets inside the range; with ``data`` (the first and last time that
    holds data anywhere, raw or tiers), also the bucket holding the first or last data when
    the range starts before or ends after them (nothing lies beyond): a tier piece may then
    start before ``start`` or end after ``end``, and its buckets count as the range's first
    or last."""
    if start > end:
        return []
    if not tiers:
        return [Piece(None, start, end)]
    state, finer = tiers[0], tiers[1:]
    covers = state.covers
    b = state.tier.bucket_ms
    if covers is None:
        return pieces(start, end, finer, data)
    if data is not None and start <= data[0]:
        lo = max(data[0] // b * b, covers[0])
    else:
        lo = max(-(-start // b) * b, covers[0])  # whole tier buckets only
    if data is not None and end >= data[1]:
        hi = min(data[1] // b * b + b, covers[1] + 1, MAX_TS)
    else:
        hi = min((end + 1) // b * b, covers[1] + 1, MAX_TS)
    if lo >= hi or lo > end or hi <= start:
        return pieces(start, end, finer, data)
    return [
        *pieces(start, lo - 1, finer, data),
        Piece(state, lo, hi - 1),
        *pieces(hi, end, finer, data),
    ]


def friendly_bucket(
    tiers: Sequence[Tier], low: int, high: int, max_points: int, aggregation: Aggregation
) -> tuple[int, int] | None:
    """A bucket and alignment that tiers can serve, for at most ``max_points`` buckets over
    ``[low, high]``: the bucket the range needs, rounded up to a multiple of the coarsest
    tier bucket not wider than it, aligned to the range's start rounded down to that tier's
    grid. None when no tier fits (or the aggregator does not compose)."""
    if not composes(aggregation) or max_points < 1 or high < low:
        return None
    wanted = max(1, math.ceil((high - low + 1) / max_points))
    fitting = [t.bucket_ms for t in tiers if t.bucket_ms <= wanted]
    if not fitting:
        return None
    b = max(fitting)
    align = low // b * b
    bucket = -(-wanted // b) * b
    while (high - align) // bucket + 1 > max_points:
        bucket += b
    return bucket, align
