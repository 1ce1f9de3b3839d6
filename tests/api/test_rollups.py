"""Rollup tiers through the API: setting them, reading from them, policies, listings."""

from __future__ import annotations

import numpy as np
from quart.testing import QuartClient

from tsdb.index_build import check_index, rebuild_index
from tsdb.rollups.manage import backfill
from tsdb.store import TimeSeriesStore

TIERS = {"tiers": [{"bucket": "1m", "retention": "1d"}, {"bucket": "1h"}]}


def same(a: list[list[float]], b: list[list[float]]) -> bool:
    """The same buckets, values equal to 1e-9 of the values' scale (sums in another order)."""
    if [p[0] for p in a] != [p[0] for p in b]:
        return False
    scale = max((abs(p[1]) for p in b if p[1] is not None), default=1.0)
    return all(
        x[1] == y[1] or abs(x[1] - y[1]) <= 1e-9 * max(scale, 1.0)
        for x, y in zip(a, b, strict=True)
    )


async def _series(client: QuartClient, key: str, points: int = 7200, **labels: str) -> None:
    response = await client.post("/v1/series", json={"key": key, "labels": labels})
    assert response.status_code == 201
    ts = np.arange(points, dtype=np.int64) * 1000
    vs = np.round(np.sin(np.arange(points) / 100.0) * 10, 3)
    body = [[int(t), float(v)] for t, v in zip(ts, vs, strict=True)]
    response = await client.post(f"/v1/series/{key}/points", json=body)
    assert response.status_code == 200, await response.get_data(as_text=True)


async def test_tiers_of_a_series_with_history_are_backfilled_and_serve_reads(
    client: QuartClient, store: TimeSeriesStore
) -> None:
    await _series(client, "temp")
    response = await client.put("/v1/series/temp/rollups", json=TIERS)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert [t["bucket"] for t in body["tiers"]] == ["1m", "1h"]
    assert body["pending"] is True and body["backfill_job"]
    assert body["tiers"][0]["covers"] is None  # nothing filled until the job runs
    raw = await client.get("/v1/series/temp/points?agg=avg&bucket=1h&tier=raw")
    before = await client.get("/v1/series/temp/points?agg=avg&bucket=1h")
    assert (await before.get_json())["tiers"] == ["raw"]
    await backfill(store, "temp")  # what the job does
    after = await client.get("/v1/series/temp/points?agg=avg&bucket=1h")
    answer = await after.get_json()
    assert answer["tiers"] == ["1h", "1m", "raw"]
    assert after.headers["X-Tiers"] == ",".join(answer["tiers"])
    assert same(answer["points"], (await raw.get_json())["points"])
    assert (await raw.get_json())["tiers"] == ["raw"]
    shown = await (await client.get("/v1/series/temp/rollups")).get_json()
    assert shown["pending"] is False and shown["origin"] == "series"
    hour = shown["tiers"][1]
    assert hour["covers"] == {"from": 0, "to": 3_599_999} and hour["buckets"] == 1
    assert hour["memory_bytes"] > 0 and len(hour["series"]) == 7


async def test_tier_series_are_kept_out_of_listings_unless_asked_for(
    client: QuartClient, store: TimeSeriesStore
) -> None:
    await _series(client, "temp", points=10, city="austin")
    await client.put("/v1/series/temp/rollups", json=TIERS)
    listed = await (await client.get("/v1/series")).get_json()
    assert [s["key"] for s in listed["series"]] == ["temp"]
    names = await (await client.get("/v1/labels")).get_json()
    assert names["labels"] == ["city"]
    asked = await client.get("/v1/series?filter=tsapi_rollup_of=temp&filter=tsapi_rollup_part=sum")
    keys = [s["key"] for s in (await asked.get_json())["series"]]
    assert len(keys) == 2 and all(k.startswith("tsapi:rollup:") for k in keys)
    reserved = await client.post(
        "/v1/series", json={"key": "x", "labels": {"tsapi_rollup_of": "temp"}}
    )
    assert reserved.status_code == 422
    rebuilt = await rebuild_index(store.client)  # a rebuilt index leaves them out too
    assert (await check_index(store.client)).series == 1
    listed = await (await client.get("/v1/series")).get_json()
    assert [s["key"] for s in listed["series"]] == ["temp"], rebuilt
    assert (await (await client.get("/v1/labels")).get_json())["labels"] == ["city"]


async def test_deleting_tiers_or_the_series_removes_the_tier_series(
    client: QuartClient, store: TimeSeriesStore
) -> None:
    await _series(client, "a", points=10)
    await _series(client, "b", points=10)
    for key in ("a", "b"):
        await client.put(f"/v1/series/{key}/rollups", json=TIERS)
    assert (await client.delete("/v1/series/a/rollups")).status_code == 204
    assert (await (await client.get("/v1/series/a/rollups")).get_json())["tiers"] == []
    assert (await client.delete("/v1/series/b")).status_code == 204
    assert await store.client.keys("tsapi:rollup*") == []
    assert (await client.get("/v1/series/b/rollups")).status_code == 404
    assert (await client.delete("/v1/series/b/rollups")).status_code == 404


async def test_policies_give_tiers_to_matching_series_now_and_later(
    client: QuartClient, store: TimeSeriesStore
) -> None:
    await _series(client, "temp:a", points=100, kind="temp")
    await _series(client, "hum:a", points=100, kind="hum")
    policy = {"policies": [{"name": "temps", "filter": ["kind=temp"], **TIERS}]}
    response = await client.put("/v1/rollups", json=policy)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["applied"] == {"updated": ["temp:a"], "removed": []}
    assert body["backfill_job"]
    assert body["policies"][0]["tiers"][0] == {
        "bucket": "1m",
        "bucket_ms": 60000,
        "retention_ms": 86400000,
    }
    assert (await (await client.get("/v1/rollups")).get_json())["policies"] == body["policies"]
    # created later: by POST /v1/series, and by a write that creates
    await _series(client, "temp:b", points=100, kind="temp")
    created = await client.post(
        "/v1/series/temp:d/points?create=true",
        json={"points": [[t * 1000, t] for t in range(200)], "labels": {"kind": "temp"}},
    )
    assert created.status_code == 201
    d = await (await client.get("/v1/series/temp:d/rollups")).get_json()
    assert d["origin"] == "policy:temps" and d["pending"] is False
    # filled by the write itself, up to the newest minute (still open)
    assert d["tiers"][0]["covers"] == {"from": 0, "to": 179_999}
    b = await (await client.get("/v1/series/temp:b/rollups")).get_json()
    assert b["origin"] == "policy:temps"
    hum = await (await client.get("/v1/series/hum:a/rollups")).get_json()
    assert hum["tiers"] == []
    # a label change moves a series in (and out)
    await client.patch("/v1/series/hum:a", json={"labels": {"kind": "temp"}})
    assert (await (await client.get("/v1/series/hum:a/rollups")).get_json())["origin"]
    await client.patch("/v1/series/hum:a", json={"labels": {"kind": "hum"}})
    assert (await (await client.get("/v1/series/hum:a/rollups")).get_json())["tiers"] == []
    # tiers set on a series itself are not a policy's to change
    await client.put("/v1/series/temp:a/rollups", json={"tiers": [{"bucket": "5m"}]})
    assert (await client.delete("/v1/rollups")).status_code == 204
    kept = await (await client.get("/v1/series/temp:a/rollups")).get_json()
    assert kept["origin"] == "series" and [t["bucket"] for t in kept["tiers"]] == ["5m"]
    gone = await (await client.get("/v1/series/temp:b/rollups")).get_json()
    assert gone["tiers"] == []


async def test_bad_tiers_and_policies_are_refused(client: QuartClient) -> None:
    await _series(client, "a", points=10)
    for body in (
        {"tiers": []},
        {"tiers": [{"bucket": "0"}]},
        {"tiers": [{"bucket": "1h", "retention": "1m"}]},
        {"tiers": [{"bucket": "1h"}, {"bucket": "60m"}]},
        {"tiers": [{"bucket": "soon"}]},
    ):
        response = await client.put("/v1/series/a/rollups", json=body)
        assert response.status_code == 422, body
        assert response.content_type == "application/problem+json"
    assert (await client.put("/v1/series/none/rollups", json=TIERS)).status_code == 404
    bad_filter = {"policies": [{"name": "p", "filter": ["kind!=x"], **TIERS}]}
    assert (await client.put("/v1/rollups", json=bad_filter)).status_code == 422
    bad_name = {"policies": [{"name": "a b", "filter": ["kind=x"], **TIERS}]}
    assert (await client.put("/v1/rollups", json=bad_name)).status_code == 422


async def test_max_points_picks_a_bucket_the_tiers_serve(
    client: QuartClient, store: TimeSeriesStore
) -> None:
    await _series(client, "temp", points=4 * 3600 + 17)
    await client.put("/v1/series/temp/rollups", json=TIERS)
    await backfill(store, "temp")
    tiered = await (await client.get("/v1/series/temp/points?max_points=100")).get_json()
    assert tiered["bucket_ms"] % 60_000 == 0 and len(tiered["points"]) <= 100
    assert tiered["tiers"][0] == "1m"
    raw = await client.get(
        f"/v1/series/temp/points?agg=avg&bucket={tiered['bucket_ms']}&align=0&tier=raw"
    )
    assert same(tiered["points"], (await raw.get_json())["points"])
    forced = await (await client.get("/v1/series/temp/points?max_points=100&tier=raw")).get_json()
    assert forced["tiers"] == ["raw"] and forced["bucket_ms"] == 144_161  # span / 100


async def test_query_says_which_tiers_served_each_series(
    client: QuartClient, store: TimeSeriesStore
) -> None:
    await _series(client, "a", points=7200, site="x")
    await _series(client, "b", points=7200, site="x")
    await client.put("/v1/series/a/rollups", json=TIERS)
    await backfill(store, "a")
    response = await client.get("/v1/query?filter=site=x&agg=max&bucket=1h")
    body = await response.get_json()
    # the newest hour is still open: its closed minutes from 1m, its newest minute raw
    assert [s["tiers"] for s in body["series"]] == [["1h", "1m", "raw"], ["raw"]]
    assert response.headers["X-Tiers"] == "1h,1m,raw"
    raw = await (await client.get("/v1/query?filter=site=x&agg=max&bucket=1h&tier=raw")).get_json()
    for mine, theirs in zip(body["series"], raw["series"], strict=True):
        assert same(mine["points"], theirs["points"])
