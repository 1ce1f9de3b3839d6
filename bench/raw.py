"""Talking to Redis directly: setup, checks, and ``redis-cli --pipe`` loads."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

__all__ = ["PipeError", "create_series", "pipe_file", "settle", "total_samples"]

_PIPE_SUMMARY = re.compile(rb"errors: (\d+), replies: (\d+)")


class PipeError(RuntimeError):
    """``redis-cli --pipe`` failed or reported errors."""


def create_series(client: redis.Redis, key: str) -> None:
    """A new, empty series (``TS.CREATE``) with the module's defaults."""
    client.execute_command("TS.CREATE", key, "LABELS", "bench", "1")


def total_samples(client: redis.Redis, key: str) -> int:
    """How many samples ``key`` holds (``TS.INFO``)."""
    info: Any = client.execute_command("TS.INFO", key)
    if isinstance(info, list):  # RESP2: a flat name/value list
        info = dict(zip(info[::2], info[1::2], strict=False))
    value = info.get(b"totalSamples", info.get("totalSamples"))
    return int(value)


def pipe_file(redis_cli: Path, port: int, path: Path) -> int:
    """Send a RESP file with ``redis-cli --pipe``; return the number of replies."""
    with path.open("rb") as commands:
        done = subprocess.run(
            [str(redis_cli), "-p", str(port), "--pipe"],
            stdin=commands,
            capture_output=True,
            check=False,
        )
    summary = _PIPE_SUMMARY.search(done.stdout)
    if done.returncode != 0 or summary is None or int(summary.group(1)) != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()[-1000:]
        raise PipeError(f"redis-cli --pipe failed (exit {done.returncode}): {output}")
    return int(summary.group(2))


def settle(client: redis.Redis, quiet: float = 0.5, timeout: float = 300.0) -> None:
    """Save pending changes and wait out background saves and AOF rewrites.

    Redis forks for BGSAVE (the ``save`` rules) and for AOF rewrites; on a small machine a
    fork landing inside a measurement would show up as noise, so timed runs start after
    ``quiet`` seconds without one (the server checks its rules ten times a second).
    """
    if _persistence(client).get("rdb_changes_since_last_save", 0) > 0:
        with contextlib.suppress(redis.ResponseError):  # one is running or scheduled
            client.bgsave()
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while quiet_since is None or time.monotonic() - quiet_since < quiet:
        now = time.monotonic()
        if _busy(_persistence(client)):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        if now > deadline:
            raise TimeoutError(f"Redis background persistence still busy after {timeout:.0f} s")
        time.sleep(0.05)


def _persistence(client: redis.Redis) -> dict[str, int]:
    info: dict[str, Any] = client.info("persistence")
    return {k: v for k, v in info.items() if isinstance(v, int)}


def _busy(info: dict[str, int]) -> bool:
    keys = ("rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled")
    return any(info.get(k, 0) for k in keys)
