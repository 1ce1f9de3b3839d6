"""Quiet logs while Redis is down: the first refused request, then one summary per interval.

Without this, every request refused during an outage logged a line of its own (thousands a
minute under load). :class:`OutageLog` logs the first refusal with its reason, then at most
one line per ``interval`` seconds counting the refusals since the last line, and a last
count when a request succeeds with Redis again (:meth:`recovered`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from quart import current_app

__all__ = ["OUTAGE_LOG", "OutageLog", "outage_log"]

log = logging.getLogger("api.outage")

OUTAGE_LOG = "tsapi.outage_log"


class OutageLog:
    """Counts requests refused because Redis is unavailable, and logs them sparingly."""

    def __init__(
        self,
        interval: float = 30.0,
        *,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._log = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None  # first refusal of the current outage
        self._last_line = 0.0
        self._pending = 0  # refusals not yet counted in a line
        self.total = 0  # refusals in the current outage

    @property
    def in_outage(self) -> bool:
        """True between a refusal and the next success."""
        return self._since is not None

    def refused(self, reason: str, where: str) -> None:
        """A request was answered 503/504 because of Redis (``where``: method and path)."""
        with self._lock:
            now = self._clock()
            self.total += 1
            if self._since is None:
                self._since, self._last_line, self._pending = now, now, 0
                first = True
            else:
                self._pending += 1
                first = False
                if now - self._last_line < self.interval:
                    return
                count, self._pending, self._last_line = self._pending, 0, now
                elapsed = now - self._since
        if first:
            self._log.warning(
                "Redis unavailable, refusing %s: %s (further refusals are counted and logged "
                "every %g s)",
                where,
                reason,
                self.interval,
            )
        else:
            self._log.warning(
                "Redis still unavailable after %.0f s: %d more request(s) refused (%d in all)",
                elapsed,
                count,
                self.total,
            )

    def recovered(self) -> None:
        """A request was served with Redis: close the current outage, if any."""
        if self._since is None:
            return
        with self._lock:
            since, self._since = self._since, None
            if since is None:
                return
            total, self.total, self._pending = self.total, 0, 0
            elapsed = self._clock() - since
        self._log.warning(
            "Redis available again: %d request(s) were refused over %.0f s", total, elapsed
        )


def outage_log() -> OutageLog:
    """The outage log of the running app (one is made on first use)."""
    found: OutageLog | None = current_app.extensions.get(OUTAGE_LOG)
    if found is None:
        found = current_app.extensions[OUTAGE_LOG] = OutageLog()
    return found
