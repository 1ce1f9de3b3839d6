"""CPU seconds used by the processes under test, to see which one a throughput is bound by.

Redis reports its own (``INFO cpu``); the API and the workers are read from ``/proc``
(Linux; elsewhere they are left out); the bench's own is :func:`time.process_time`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis

__all__ = ["cpu_seconds", "cpu_used", "process_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(
    admin: redis.Redis, api_pid: int | None, worker_pids: Iterable[int]
) -> dict[str, float]:
    """CPU seconds used so far by Redis, the API, the workers (together) and this process."""
    info: dict[str, Any] = admin.info("cpu")
    used = {
        "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        "bench": time.process_time(),
    }
    api = _proc_seconds(api_pid) if api_pid is not None else None
    if api is not None:
        used["api"] = api
    workers = [_proc_seconds(pid) for pid in worker_pids]
    if workers and None not in workers:
        used["workers"] = sum(w for w in workers if w is not None)
    return used


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Seconds used between two :func:`cpu_seconds` readings, by process kind."""
    return {name: round(after[name] - before[name], 3) for name in after if name in before}


def process_seconds(pids: Iterable[int]) -> list[float | None]:
    """User + system CPU seconds of each of ``pids`` (None where /proc cannot tell)."""
    return [_proc_seconds(pid) for pid in pids]


def _proc_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (its threads included), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
    return (int(fields[11]) + int(fields[12])) / _TICKS
