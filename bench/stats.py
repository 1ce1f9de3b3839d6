"""Timing helpers: a stopwatch and the statistics the report uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Stopwatch", "median", "stopwatch"]


@dataclass
class Stopwatch:
    """Seconds elapsed in a ``with stopwatch() as sw:`` block (``sw.seconds`` after it)."""

    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time the block with :func:`time.perf_counter`."""
    watch = Stopwatch()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - watch.started


def median(samples: list[float]) -> float:
    """The median of non-empty ``samples``."""
    if not samples:
        raise ValueError("no samples to take the median of")
    return statistics.median(samples)
