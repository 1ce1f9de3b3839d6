"""Acknowledged writes survive `kill -9` of Redis with `appendfsync always`."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.reliability.conftest import start_serve
from tsdb.embedded import EmbeddedRedis

WRITERS = 8


async def write_until_killed(base: str, redis_server: EmbeddedRedis) -> tuple[set[int], set[int]]:
    """Writers send one point per request while Redis is killed under them.

    Returns the timestamps acknowledged (200) and the statuses seen.
    """
    acknowledged: set[int] = set()
    statuses: set[int] = set()
    stop = asyncio.Event()
    enough = asyncio.Event()

    async def writer(http: httpx.AsyncClient, n: int) -> None:
        t = n
        while not stop.is_set():
            response = await http.post("/v1/series/aof/points", json={"t": t, "v": float(t)})
            statuses.add(response.status_code)
            if response.status_code == 200:
                acknowledged.add(t)
                if len(acknowledged) >= 300:
                    enough.set()
            t += WRITERS

    async def killer() -> None:
        await asyncio.wait_for(enough.wait(), 30)
        await asyncio.to_thread(redis_server.kill)  # SIGKILL: no shutdown, no final fsync
        await asyncio.sleep(0.3)  # writers keep going against a dead Redis
        stop.set()

    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        await asyncio.gather(killer(), *(writer(http, n) for n in range(WRITERS)))
    return acknowledged, statuses


def test_every_acknowledged_point_survives_kill_9_with_appendfsync_always(
    tmp_path: Path,
) -> None:
    redis_server = EmbeddedRedis(
        port=free_port(), data_dir=tmp_path, appendfsync="always", log_to_file=True
    )
    redis_server.start()
    process, base = start_serve(redis_server.url)
    try:
        created = httpx.post(f"{base}/v1/series", json={"key": "aof"})
        assert created.status_code == 201
        acknowledged, statuses = asyncio.run(write_until_killed(base, redis_server))
        assert statuses <= {200, 503}, statuses  # no 500 while Redis dies
        assert 503 in statuses
        redis_server.start()  # same port and data directory: replays the AOF
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the API did not reconnect"
            time.sleep(0.1)
        points = httpx.get(f"{base}/v1/series/aof/points", timeout=20).json()["points"]
        kept = {t for t, _ in points}
        assert len(acknowledged) >= 300
        assert acknowledged <= kept, f"{len(acknowledged - kept)} acknowledged points lost"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine: do not fail on a slow exit
            process.kill()
            process.wait()
        redis_server.stop()
