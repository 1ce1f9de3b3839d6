"""An in-memory :class:`~promql.model.Source`, for tests and small data sets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from promql.model import Matcher, Series

__all__ = ["MemorySource"]


class MemorySource:
    """Series held in memory; ``select`` filters by matchers and slices by time.

    ``calls`` records each ``select`` as ``(matchers, start_ms, end_ms)``, so tests can
    check the spans the engine asks for.
    """

    def __init__(self, series: Iterable[Series] = ()) -> None:
        self.series: list[Series] = []
        self.calls: list[tuple[tuple[Matcher, ...], int, int]] = []
        for s in series:
            self.add(s)

    def add(self, series: Series) -> None:
        """Add one series (its samples must be in ascending time order)."""
        t = np.asarray(series.t, dtype=np.int64)
        v = np.asarray(series.v, dtype=np.float64)
        if len(t) != len(v):
            raise ValueError("t and v differ in length")
        if len(t) > 1 and not bool(np.all(np.diff(t) > 0)):
            raise ValueError("timestamps must be strictly ascending")
        self.series.append(Series(dict(series.labels), t, v))

    async def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """The series all matchers match, restricted to samples in ``[start_ms, end_ms]``."""
        self.calls.append((tuple(matchers), start_ms, end_ms))
        out = []
        for s in self.series:
            if not all(m.matches(s.labels.get(m.name, "")) for m in matchers):
                continue
            lo = int(np.searchsorted(s.t, start_ms, "left"))
            hi = int(np.searchsorted(s.t, end_ms, "right"))
            if hi > lo:
                out.append(Series(dict(s.labels), s.t[lo:hi], s.v[lo:hi]))
        return out
