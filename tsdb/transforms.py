"""Computations on the way out that RedisTimeSeries does not do: gap filling and
rate/derivative/delta/cumsum. Each is a small state machine fed page by page, so results
stream with the data and pages join without seams."""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

__all__ = [
    "Apply",
    "Edges",
    "Fill",
    "FillPolicy",
    "Function",
    "Rows",
    "Transform",
    "finish",
    "pipeline",
]

Row = list[Any]
Rows = Sequence[Sequence[Any]]


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


class FillPolicy(StrEnum):
    """How empty buckets are reported (OpenTSDB-style fill policies)."""

    NULL = "null"
    ZERO = "zero"
    PREVIOUS = "previous"
    LINEAR = "linear"


class Function(StrEnum):
    """Transforms of a series' values."""

    RATE = "rate"
    DERIVATIVE = "derivative"
    DELTA = "delta"
    CUMSUM = "cumsum"


class Transform:
    """Base: ``feed`` a page, get what can be emitted; ``finish`` flushes what is held back."""

    def feed(self, rows: Rows) -> list[Row]:
        raise NotImplementedError

    def finish(self) -> list[Row]:
        return []


class Fill(Transform):
    """Fill empty buckets (NaN/None values) by a :class:`FillPolicy`."""

    def __init__(self, policy: FillPolicy) -> None:
        self.policy = policy
        self._previous: Any = None
        self._pending: list[Row] = []  # a run of gaps waiting for its right neighbour (linear)

    def feed(self, rows: Rows) -> list[Row]:
        out: list[Row] = []
        for t, v in rows:
            if not _missing(v):
                if self._pending:
                    out.extend(self._interpolate(t, v))
                out.append([t, v])
                self._previous = (t, v)
                continue
            match self.policy:
                case FillPolicy.NULL:
                    out.append([t, None])
                case FillPolicy.ZERO:
                    out.append([t, 0.0])
                case FillPolicy.PREVIOUS:
                    out.append([t, None if self._previous is None else self._previous[1]])
                case FillPolicy.LINEAR:
                    if self._previous is None:
                        out.append([t, None])  # nothing to the left: stays empty
                    else:
                        self._pending.append([t, None])
        return out

    def _interpolate(self, t1: int, v1: float) -> list[Row]:
        t0, v0 = self._previous
        rows = [[t, v0 + (v1 - v0) * (t - t0) / (t1 - t0)] for t, _ in self._pending]
        self._pending = []
        return rows

    def finish(self) -> list[Row]:
        rows, self._pending = self._pending, []
        return rows  # nothing to the right: the trailing gaps stay empty


class Edges(Transform):
    """Report the empty buckets between the requested bounds and the first and last sample.

    The module's EMPTY reports empty buckets only between samples of the answer; a user who
    asks for ``from=0&to=150`` in 10 ms buckets expects 0, 10, ..., 150 whatever the data
    (as Grafana and Prometheus give). ``start``/``end`` are the requested bounds (None when
    open), ``offset`` the distance from a bucket's start to the timestamp it reports.
    """

    def __init__(
        self,
        start: int | None,
        end: int | None,
        bucket: int,
        align: int,
        offset: int,
        reverse: bool = False,
    ) -> None:
        self.bucket = bucket
        self.reverse = reverse
        first = None if start is None else start - (start - align) % bucket + offset
        last = None if end is None else end - (end - align) % bucket + offset
        self._next, self._stop = (last, first) if reverse else (first, last)

    def feed(self, rows: Rows) -> list[Row]:
        out: list[Row] = []
        for row in rows:
            t = int(row[0])
            out.extend(self._until(t, inclusive=False))
            out.append(list(row))
            self._next = t - self.bucket if self.reverse else t + self.bucket
        return out

    def finish(self) -> list[Row]:
        if self._stop is None:
            return []
        return self._until(self._stop, inclusive=True)

    def _until(self, limit: int, *, inclusive: bool) -> list[Row]:
        if self._next is None:
            return []
        step = -self.bucket if self.reverse else self.bucket
        stop = limit + (step if inclusive else 0)
        return [[t, None] for t in range(self._next, stop, step)]


class Apply(Transform):
    """Apply a :class:`Function`; the first sample, having no predecessor, is dropped
    (except for ``cumsum``). ``rate`` is per second and treats a drop as a counter reset,
    as Prometheus does; ``derivative`` is the plain per-second slope."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self._previous: tuple[int, float] | None = None
        self._total = 0.0

    def feed(self, rows: Rows) -> list[Row]:
        out: list[Row] = []
        for t, v in rows:
            if _missing(v):
                out.append([t, None])
                continue
            if self.function == Function.CUMSUM:
                self._total += v
                out.append([t, self._total])
                continue
            if self._previous is not None:
                t0, v0 = self._previous
                change = v - v0
                if self.function == Function.DELTA:
                    out.append([t, change])
                else:
                    if self.function == Function.RATE and change < 0:
                        change = v  # counter reset: it restarted from zero
                    seconds = abs(t - t0) / 1000
                    out.append([t, change / seconds if seconds else None])
            self._previous = (t, v)
        return out


def pipeline(transforms: Sequence[Transform], rows: Rows) -> Rows:
    """Feed ``rows`` through ``transforms`` in order (no copy when there are none)."""
    if not transforms:
        return rows
    out = transforms[0].feed(rows)
    for transform in transforms[1:]:
        out = transform.feed(out)
    return out


def finish(transforms: Sequence[Transform]) -> list[Row]:
    """Flush every transform in order (what one holds back passes through the next)."""
    out: list[Row] = []
    for transform in transforms:
        out = transform.feed(out) + transform.finish()
    return out
