"""Data for the peer rows: a fleet of hosts x metrics (the listing and label rows), a group of
series for the multi-series query, and the same bodies for tsapi and VictoriaMetrics.

tsapi gets JSON columnar bodies (``POST /v1/points?create=true``, series ``m<j>:host<i>``
labelled ``host`` and ``metric``), VictoriaMetrics the same series as JSON lines
(``/api/v1/import``, metric ``m<j>`` labelled ``host``). Timestamps are recent (VictoriaMetrics
lists series and labels of the last day by default); values are seeded, so every run sends
the same data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson

__all__ = ["METRICS", "Bodies", "Fleet", "fleet_bodies", "group_bodies", "line_protocol"]

METRICS = 100
"""Metrics per host."""
SERIES_PER_REQUEST = 20_000


@dataclass(frozen=True)
class Fleet:
    """Where the fleet's samples sit in time."""

    start_ms: int
    step_ms: int = 10_000
    points: int = 5

    @staticmethod
    def recent(points: int = 5) -> Fleet:
        """Samples starting two hours ago (whole hour)."""
        now = int(time.time()) // 3600 * 3600 * 1000
        return Fleet(now - 2 * 3600 * 1000, points=points)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.step_ms * (self.points - 1)


@dataclass(frozen=True)
class Bodies:
    """The same series for both systems, in requests of at most SERIES_PER_REQUEST series."""

    tsapi: list[bytes]
    victoria: list[bytes]
    series: int
    points: int


def fleet_bodies(fleet: Fleet, first_host: int, hosts: int) -> Bodies:
    """Hosts ``first_host .. first_host + hosts - 1``, each with METRICS series."""
    rng = np.random.default_rng(first_host)
    t = [fleet.start_ms + i * fleet.step_ms for i in range(fleet.points)]
    tsapi: list[bytes] = []
    victoria: list[bytes] = []
    rows: list[dict[str, object]] = []
    lines: list[bytes] = []
    for host in range(first_host, first_host + hosts):
        values = np.round(rng.normal(50, 10, (METRICS, fleet.points)), 3).tolist()
        for metric in range(METRICS):
            name, host_name = f"m{metric}", f"host{host}"
            rows.append(
                {
                    "key": f"{name}:{host_name}",
                    "labels": {"host": host_name, "metric": name},
                    "t": t,
                    "v": values[metric],
                }
            )
            lines.append(
                orjson.dumps(
                    {
                        "metric": {"__name__": name, "host": host_name},
                        "values": values[metric],
                        "timestamps": t,
                    }
                )
            )
            if len(rows) == SERIES_PER_REQUEST:
                tsapi.append(orjson.dumps(rows))
                victoria.append(b"\n".join(lines))
                rows, lines = [], []
    if rows:
        tsapi.append(orjson.dumps(rows))
        victoria.append(b"\n".join(lines))
    count = hosts * METRICS
    return Bodies(tsapi, victoria, count, count * fleet.points)


def group_bodies(fleet: Fleet, series: int, label: tuple[str, str], name: str) -> Bodies:
    """``series`` series labelled ``label`` (metric ``name`` on VictoriaMetrics)."""
    rng = np.random.default_rng(7)
    t = [fleet.start_ms + i * fleet.step_ms for i in range(fleet.points)]
    values = np.round(rng.normal(50, 10, (series, fleet.points)), 3).tolist()
    rows = [
        {"key": f"{name}:{i}", "labels": {label[0]: label[1], "n": str(i)}, "t": t, "v": values[i]}
        for i in range(series)
    ]
    lines = [
        orjson.dumps(
            {
                "metric": {"__name__": name, label[0]: label[1], "n": str(i)},
                "values": values[i],
                "timestamps": t,
            }
        )
        for i in range(series)
    ]
    return Bodies([orjson.dumps(rows)], [b"\n".join(lines)], series, series * fleet.points)


def line_protocol(measurement: str, series: int, points: int, start_ms: int) -> Iterator[bytes]:
    """``points`` lines of ``measurement,sensor=sNN v=... <ns>`` over ``series`` sensors
    (time-major), in bodies of at most 100,000 lines."""
    rng = np.random.default_rng(11)
    per_body = 100_000
    for first in range(0, points, per_body):
        n = min(per_body, points - first)
        index = np.arange(first, first + n)
        stamps = (start_ms + (index // series) * 1000) * 1_000_000
        values = np.round(rng.normal(50, 10, n), 3)
        yield "\n".join(
            f"{measurement},sensor=s{i % series:02d} v={v!r} {t}"
            for i, v, t in zip(index.tolist(), values.tolist(), stamps.tolist(), strict=True)
        ).encode()
