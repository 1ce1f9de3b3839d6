"""Two API processes creating the same series at the same moment leave an exact index."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import stop_process
from tests.reliability.conftest import start_serve
from tsdb.connection import connect
from tsdb.index_build import check_index


async def test_two_api_processes_creating_the_same_series_at_once(redis_url: str) -> None:
    servers = [start_serve(redis_url), start_serve(redis_url)]
    try:
        lines = "\n".join(f"cpu,host=h{i % 7},n={i} v=1 1000" for i in range(300))
        async with httpx.AsyncClient(timeout=60) as http:

            async def bulk(base: str) -> httpx.Response:
                return await http.post(
                    f"{base}/v1/points?precision=ms",
                    content=lines,
                    headers={"Content-Type": "text/plain"},
                )

            async def create(base: str) -> httpx.Response:
                body = {"key": "same", "labels": {"host": "h0"}}
                return await http.post(f"{base}/v1/series", json=body)

            replies = await asyncio.gather(
                *(bulk(base) for _, base in servers for _ in range(2)),
                *(create(base) for _, base in servers),
            )
            assert sorted(r.status_code for r in replies[-2:]) == [201, 409]
            created = sum(r.json()["created"] for r in replies[:-2])
            assert created == 300
            url = f"{servers[0][1]}/v1/labels/host/values?with_counts=true"
            labels = (await http.get(url)).json()
        assert labels["counts"] == {f"h{i}": 42 + (i < 6) + (i == 0) for i in range(7)}
        client = connect(redis_url)
        try:
            assert (await check_index(client)).exact
        finally:
            await client.aclose()
    finally:
        for process, _ in servers:
            stop_process(process)
