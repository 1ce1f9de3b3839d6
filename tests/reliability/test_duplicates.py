"""A burst of concurrent writers to one series, all at the same timestamps: each duplicate
policy is applied consistently, refusals are reported point by point, and nothing is a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import LiveApi

WRITERS = 16
STAMPS = [1_700_000_000_000 + i * 1000 for i in range(50)]


def value(writer: int, stamp_index: int) -> float:
    """Distinct small integers: sums are exact, and every value names its writer."""
    return float(writer * 1000 + stamp_index + 1)


async def burst(base: str, key: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def write(writer: int) -> httpx.Response:
            points = [{"t": t, "v": value(writer, i)} for i, t in enumerate(STAMPS)]
            return await http.post(f"/v1/series/{key}/points", json=points)

        return list(await asyncio.gather(*(write(w) for w in range(WRITERS))))


def stored(base: str, key: str) -> dict[int, float]:
    points = httpx.get(f"{base}/v1/series/{key}/points", timeout=30).json()["points"]
    return {t: v for t, v in points}


@pytest.mark.parametrize("policy", ["sum", "min", "max", "first", "last"])
def test_concurrent_duplicates_follow_the_series_policy(live_api: LiveApi, policy: str) -> None:
    key = f"dup:{policy}"
    created = httpx.post(
        f"{live_api.base}/v1/series", json={"key": key, "duplicate_policy": policy}
    )
    assert created.status_code == 201
    answers = asyncio.run(burst(live_api.base, key))
    assert [a.status_code for a in answers] == [200] * WRITERS
    assert all(a.json()["written"] == len(STAMPS) for a in answers)
    final = stored(live_api.base, key)
    assert sorted(final) == STAMPS
    for i, t in enumerate(STAMPS):
        candidates = [value(w, i) for w in range(WRITERS)]
        expected: Any = {
            "sum": sum(candidates),
            "min": min(candidates),
            "max": max(candidates),
        }.get(policy)
        if expected is not None:
            assert final[t] == expected
        else:  # first/last: one writer's value, whichever got there first/last
            assert final[t] in candidates


def test_concurrent_duplicates_under_block_keep_one_value_and_report_the_rest(
    live_api: LiveApi,
) -> None:
    key = "dup:block"
    created = httpx.post(
        f"{live_api.base}/v1/series", json={"key": key, "duplicate_policy": "block"}
    )
    assert created.status_code == 201
    answers = asyncio.run(burst(live_api.base, key))
    assert {a.status_code for a in answers} <= {200, 409}
    winners: dict[int, int] = {}
    rejected_total = 0
    for writer, answer in enumerate(answers):
        body = answer.json()
        refused = set()
        if answer.status_code == 409:
            assert answer.headers["content-type"] == "application/problem+json"
            assert body["type"] == "tag:tsapi,2026:problem:duplicate-blocked"
            assert body["rejected_count"] == len(body["rejected"])
            refused = {r["t"] for r in body["rejected"]}
            assert all("duplicate" in r["reason"] for r in body["rejected"])
            rejected_total += body["rejected_count"]
        assert body["written"] == len(STAMPS) - len(refused)
        for t in set(STAMPS) - refused:
            assert t not in winners, "two writers were told they wrote the same timestamp"
            winners[t] = writer
    assert sorted(winners) == STAMPS  # every timestamp written exactly once...
    assert rejected_total == len(STAMPS) * (WRITERS - 1)  # ...and refused for all others
    final = stored(live_api.base, key)
    assert final == {t: value(winners[t], i) for i, t in enumerate(STAMPS)}
