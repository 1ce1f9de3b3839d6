"""A bounded load test on loopback: 32 clients for 10 s mixing writes and reads against a
live server with two worker processes. Zero errors, and every acknowledged point is there."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from tests.reliability.conftest import LiveApi

CLIENTS = 32
SECONDS = 10.0
BATCH = 20


async def client_loop(base: str, n: int, until: float) -> tuple[set[int], Counter[str]]:
    """One client: writes batches to its own series, reads them back, queries all series."""
    key = f"load:{n}"
    acknowledged: set[int] = set()
    outcomes: Counter[str] = Counter()
    next_t = 1
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        step = 0
        while time.monotonic() < until:
            step += 1
            try:
                if step % 4:  # three writes for each read
                    stamps = list(range(next_t, next_t + BATCH))
                    response = await http.post(
                        f"/v1/series/{key}/points?create=true",
                        json={"points": [[t, t * 0.5] for t in stamps], "labels": {"test": "load"}},
                    )
                    if response.status_code in (200, 201):
                        acknowledged.update(stamps)
                        next_t += BATCH
                elif step % 8 == 0:
                    response = await http.get(
                        "/v1/query", params={"filter": "test=load", "agg": "count", "bucket": "1h"}
                    )
                else:
                    response = await http.get(f"/v1/series/{key}/points", params={"count": 100})
                outcomes[str(response.status_code)] += 1
            except httpx.TransportError as exc:
                outcomes[type(exc).__name__] += 1
    return acknowledged, outcomes


async def run_load(base: str) -> tuple[dict[int, set[int]], Counter[str]]:
    until = time.monotonic() + SECONDS
    results = await asyncio.gather(*(client_loop(base, n, until) for n in range(CLIENTS)))
    total: Counter[str] = Counter()
    for _, outcomes in results:
        total.update(outcomes)
    return {n: acknowledged for n, (acknowledged, _) in enumerate(results)}, total


@pytest.mark.slow
def test_32_clients_for_10_seconds_see_no_error_and_lose_no_point(live_api: LiveApi) -> None:
    acknowledged, outcomes = asyncio.run(run_load(live_api.base))
    requests = sum(outcomes.values())
    assert set(outcomes) <= {"200", "201"}, outcomes
    assert requests > CLIENTS * 10, outcomes  # it did run (about 1,000 req/s here)
    with httpx.Client(base_url=live_api.base, timeout=30) as http:
        for n, stamps in acknowledged.items():
            points = http.get(f"/v1/series/load:{n}/points").json()["points"]
            assert {t for t, _ in points} == stamps, f"series load:{n}"
