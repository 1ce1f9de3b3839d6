"""Every endpoint against a 3-shard Redis Cluster, with series spread over all shards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from quart import Quart
from quart.testing import QuartClient
from redis.crc import key_slot

from api.extensions import STORE
from api.security import KeyStore
from core.shared_config import set_shared
from tests.workers.helpers import job, submit
from tsdb.errors import InvalidInput
from workers.queue import connect_queue

CITIES = ("austin", "boston", "chicago", "denver")


async def create(client: QuartClient, key: str, **labels: str) -> None:
    response = await client.post("/v1/series", json={"key": key, "labels": labels})
    assert response.status_code == 201, await response.get_data(as_text=True)


async def write(client: QuartClient, key: str, points: list[list[float]]) -> None:
    response = await client.post(f"/v1/series/{key}/points", json=points)
    assert response.status_code == 200, await response.get_data(as_text=True)


async def get(client: QuartClient, path: str, **params: Any) -> Any:
    response = await client.get(path, query_string=params)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


def keys_per_shard(shards: list[redis.Redis]) -> list[int]:
    return [int(shard.dbsize()) for shard in shards]


async def make_city_series(client: QuartClient) -> dict[str, float]:
    """Three series per city, each with 10 points of its own constant value."""
    values: dict[str, float] = {}
    for c, city in enumerate(CITIES):
        for n in range(3):
            key = f"temp:{city}:{n}"
            values[key] = float(10 * c + n)
            await create(client, key, kind="temp", city=city)
            await write(client, key, [[t * 1000, values[key]] for t in range(10)])
    return values


async def test_the_cluster_is_ready(client: QuartClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200


async def test_series_on_every_shard_are_listed_shown_changed_and_deleted(
    client: QuartClient, shard_clients: list[redis.Redis]
) -> None:
    keys = [f"s:{i:02d}" for i in range(30)]
    for i, key in enumerate(keys):
        await create(client, key, kind="temp", parity=str(i % 2))
    assert all(count > 0 for count in keys_per_shard(shard_clients))

    listed: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7} | ({"after": after} if after else {})
        page = await get(client, "/v1/series", **params)
        listed += page["series"]
        after = page["next"]
        if after is None:
            break
    assert [s["key"] for s in listed] == keys
    assert listed[3]["labels"] == {"kind": "temp", "parity": "1"}
    odd = await get(client, "/v1/series", filter="parity=1")
    assert [s["key"] for s in odd["series"]] == keys[1::2]

    assert (await get(client, "/v1/series/s:07"))["labels"]["parity"] == "1"
    response = await client.patch("/v1/series/s:07", json={"labels": {"kind": "hum"}})
    assert response.status_code == 200
    assert [s["key"] for s in (await get(client, "/v1/series", filter="kind=hum"))["series"]] == [
        "s:07"
    ]
    assert (await client.delete("/v1/series/s:08")).status_code == 204
    assert (await client.get("/v1/series/s:08")).status_code == 404
    assert len((await get(client, "/v1/series"))["series"]) == 29


async def test_points_are_written_read_updated_and_deleted_on_every_shard(
    client: QuartClient, shard_clients: list[redis.Redis]
) -> None:
    keys = [f"p:{i}" for i in range(9)]
    for i, key in enumerate(keys):
        body = {"points": [[t, i + t / 10] for t in range(100)], "labels": {"n": str(i)}}
        response = await client.post(f"/v1/series/{key}/points?create=true", json=body)
        assert response.status_code == 201
        assert await response.get_json() == {"written": 100, "created": True}
    assert all(count > 0 for count in keys_per_shard(shard_clients))

    for i, key in enumerate(keys):
        points = (await get(client, f"/v1/series/{key}/points"))["points"]
        assert points == [[t, i + t / 10] for t in range(100)]
        summed = await get(client, f"/v1/series/{key}/points", agg="count", bucket="50ms")
        assert summed["points"] == [[0, 50.0], [50, 50.0]]
    response = await client.put("/v1/series/p:4/points/1000", json={"v": 7.5})
    assert response.status_code == 201
    response = await client.delete("/v1/series/p:5/points", query_string={"from": 0, "to": 49})
    assert await response.get_json() == {"deleted": 50}
    assert (await get(client, "/v1/series/p:4/points", **{"from": 1000}))["points"] == [[1000, 7.5]]
    assert (await get(client, "/v1/series/p:5"))["total_samples"] == 50


async def test_queries_and_latest_values_cover_every_shard(
    client: QuartClient, shard_clients: list[redis.Redis]
) -> None:
    values = await make_city_series(client)
    assert all(count > 0 for count in keys_per_shard(shard_clients))

    everything = await get(client, "/v1/query", filter="kind=temp")
    assert {s["key"]: s["points"][0][1] for s in everything["series"]} == values
    assert all(len(s["points"]) == 10 for s in everything["series"])

    grouped = await get(
        client,
        "/v1/query",
        filter=["kind=temp", "city!=denver"],
        group_by="city",
        reduce="sum",
        agg="max",
        bucket="1h",
    )
    expected = {
        f"city={city}": sum(v for k, v in values.items() if k.startswith(f"temp:{city}:"))
        for city in CITIES[:3]
    }
    assert {s["key"]: s["points"] for s in grouped["series"]} == {
        key: [[0, total]] for key, total in expected.items()
    }

    latest = await get(client, "/v1/latest", filter="kind=temp")
    assert {s["key"]: (s["t"], s["v"]) for s in latest["series"]} == {
        key: (9000, value) for key, value in values.items()
    }


async def test_bulk_writes_create_series_on_every_shard(
    client: QuartClient, shard_clients: list[redis.Redis]
) -> None:
    rows = [{"key": f"b:{i}", "t": t, "v": i * t} for i in range(12) for t in range(50)]
    response = await client.post("/v1/points?create=true&atomic=true&label=src=bulk", json=rows)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert await response.get_json() == {"written": 600, "series": 12, "created": 12}
    assert all(count > 0 for count in keys_per_shard(shard_clients))
    found = await get(client, "/v1/series", filter="src=bulk")
    assert len(found["series"]) == 12
    assert (await get(client, "/v1/series/b:11/points"))["points"][-1] == [49, 11.0 * 49]

    blocked = await client.patch("/v1/series/b:0", json={"duplicate_policy": "block"})
    assert blocked.status_code == 200
    again = await client.post("/v1/points?atomic=true", json=rows[:3])
    assert again.status_code == 409  # duplicates blocked: checked on each series' own shard
    assert (await get(client, "/v1/series/b:0"))["total_samples"] == 50


async def test_compaction_rules_work_within_one_hash_slot(client: QuartClient) -> None:
    await create(client, "temp:{austin}", city="austin")
    response = await client.post(
        "/v1/series/temp:{austin}/rules",
        json={"dest": "temp:{austin}:1s", "agg": "avg", "bucket": "1s"},
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    await write(client, "temp:{austin}", [[t * 100, t] for t in range(25)])
    compacted = await get(client, "/v1/series/temp:{austin}:1s/points")
    assert compacted["points"] == [[0, 4.5], [1000, 14.5]]


async def test_a_rule_across_hash_slots_is_refused_with_a_hint(client: QuartClient) -> None:
    assert key_slot(b"a:1") != key_slot(b"b:1")
    await create(client, "a:1")
    await create(client, "b:1")
    response = await client.post(
        "/v1/series/a:1/rules", json={"dest": "b:1", "agg": "avg", "bucket": "1s"}
    )
    assert response.status_code == 422
    assert "same hash tag" in (await response.get_json())["detail"]
    assert (await get(client, "/v1/series/a:1/rules"))["rules"] == []


@pytest.mark.slow
async def test_jobs_read_and_write_series_on_every_shard(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    values = await make_city_series(client)
    await create(client, "load:{x}", kind="load")
    await write(client, "load:{x}", [[t * 1000, t] for t in range(60)])
    plot = await submit(client, "plot", filter=["kind=temp"], formats=["html"])
    stats = await submit(client, "stats", filter=["kind=temp"])
    downsample = await submit(
        client, "downsample", source="load:{x}", agg="sum", bucket="10s", mode="rule"
    )

    run_worker()

    for submitted in (plot, stats, downsample):
        assert (await job(client, submitted["id"]))["status"] == "finished"
    plotted = await get(client, f"/v1/jobs/{plot['id']}/result")
    assert sorted(s["key"] for s in plotted["series"]) == sorted(values)
    summary = await get(client, f"/v1/jobs/{stats['id']}/result")
    assert {s["key"]: s["mean"] for s in summary["series"]} == values
    result = await get(client, f"/v1/jobs/{downsample['id']}/result")
    assert result["rule_installed"] is True
    assert result["points_written"] == 6
    dest = result["dest"]
    assert (await get(client, f"/v1/series/{dest}/points"))["points"][0] == [0, 45.0]


def test_the_job_queue_refuses_a_cluster_url(cluster_url: str) -> None:
    with pytest.raises(InvalidInput, match="TSAPI_QUEUE_URL"):
        connect_queue(cluster_url)


async def test_label_discovery_and_deleting_by_filter_span_every_shard(
    client: QuartClient,
) -> None:
    values = await make_city_series(client)
    assert (await get(client, "/v1/labels"))["labels"] == ["city", "kind"]
    found = await get(client, "/v1/labels/city/values", filter="kind=temp")
    assert found["values"] == list(CITIES)
    response = await client.delete(
        "/v1/points", query_string={"filter": "city=(austin,denver)", "from": 0, "to": 4999}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    deleted = await response.get_json()
    assert deleted["total"] == 6 * 5
    assert sorted(deleted["deleted"]) == sorted(
        k for k in values if k.startswith(("temp:austin", "temp:denver"))
    )


async def test_api_keys_rate_limits_and_shared_settings_live_on_the_cluster(
    app: Quart, client: QuartClient
) -> None:
    keys = KeyStore(app.extensions[STORE].client)
    token = (await keys.create("cluster", ["admin"])).token
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/series")).status_code == 401
    assert (await client.get("/v1/series", headers=auth)).status_code == 200

    await set_shared(app.extensions[STORE].client, "rate_limit", "0.01")
    await set_shared(app.extensions[STORE].client, "rate_burst", "1")
    deadline = time.monotonic() + 10
    while (await client.get("/v1/series", headers=auth)).status_code != 429:
        assert time.monotonic() < deadline, "the shared rate limit never applied"
        await asyncio.sleep(0.05)
