"""What every benchmark needs: the servers' addresses, a scratch folder, a Redis client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis

__all__ = ["BenchContext"]


@dataclass
class BenchContext:
    """The running Redis and API, and where to put scratch files."""

    api_url: str
    redis_url: str
    redis_port: int
    redis_cli: Path
    workdir: Path
    admin: redis.Redis
    """A plain synchronous client for setup and checks (never timed)."""
    api_pid: int | None = None
    """The ``tsapi serve`` process, for CPU accounting."""
