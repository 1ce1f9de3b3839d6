"""Resident memory of a process, sampled from ``/proc`` in a thread while a request runs.

``VmHWM`` is the peak over the process's whole life, so it cannot tell what one request
cost; instead ``VmRSS`` is read every few milliseconds and the highest reading is kept.
Linux only; elsewhere the readings stay None.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RssPeak", "rss_bytes", "sampled_rss"]

INTERVAL = 0.01
"""Seconds between readings."""


@dataclass
class RssPeak:
    """Resident bytes before the block and the highest reading during it (None without /proc)."""

    baseline: int | None = None
    peak: int | None = None
    readings: int = 0

    @property
    def growth(self) -> int | None:
        """Peak over baseline, in bytes."""
        if self.baseline is None or self.peak is None:
            return None
        return max(0, self.peak - self.baseline)


def rss_bytes(pid: int) -> int | None:
    """``VmRSS`` of ``pid`` in bytes, or None if it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


@contextmanager
def sampled_rss(pid: int | None, interval: float = INTERVAL) -> Iterator[RssPeak]:
    """Sample ``pid``'s resident memory every ``interval`` s during the block."""
    result = RssPeak()
    if pid is None:
        yield result
        return
    result.baseline = result.peak = rss_bytes(pid)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            reading = rss_bytes(pid)
            if reading is not None:
                result.readings += 1
                result.peak = max(result.peak or 0, reading)
            stop.wait(interval)

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        final = rss_bytes(pid)
        if final is not None:
            result.peak = max(result.peak or 0, final)
