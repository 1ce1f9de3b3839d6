"""Keys limited to a key prefix or a label filter reach only their series."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

from api.security.reach import filter_matches
from tests.security.conftest import MakeKey, bearer
from tsdb.store import TimeSeriesStore

SERIES = {
    "lab1:temp": {"tenant": "lab1", "kind": "temp"},
    "lab1:hum": {"tenant": "lab1", "kind": "hum"},
    "lab2:temp": {"tenant": "lab2", "kind": "temp"},
    "misc": {"kind": "temp"},
}


@pytest.fixture
async def data(client: QuartClient, make_key: MakeKey) -> None:
    """The series above, one point each, written with an admin key made first (a server
    that has just seen no keys trusts that for a couple of seconds)."""
    admin = bearer((await make_key("admin")).token)
    for key, labels in SERIES.items():
        response = await client.post(
            "/v1/series", json={"key": key, "labels": labels}, headers=admin
        )
        assert response.status_code == 201
        await client.post(f"/v1/series/{key}/points", json=[{"t": 1000, "v": 1.0}], headers=admin)


async def test_a_prefix_key_reaches_its_series_by_name_only(
    client: QuartClient, data: None, make_key: MakeKey
) -> None:
    token = (await make_key("read", "write", prefix="lab1:")).token
    auth = bearer(token)
    assert (await client.get("/v1/series/lab1:temp", headers=auth)).status_code == 200
    assert (await client.get("/v1/series/lab1:temp/points", headers=auth)).status_code == 200
    written = await client.post(
        "/v1/series/lab1:temp/points", json={"t": 2000, "v": 2}, headers=auth
    )
    assert written.status_code == 200
    outside = await client.get("/v1/series/lab2:temp", headers=auth)
    missing = await client.get("/v1/series/lab2:none", headers=auth)
    assert outside.status_code == missing.status_code == 403
    assert (await outside.get_json())["detail"] == (await missing.get_json())["detail"]
    assert (await client.delete("/v1/series/lab2:temp", headers=auth)).status_code == 403
    created = await client.post("/v1/series", json={"key": "lab1:new"}, headers=auth)
    assert created.status_code == 201
    refused = await client.post("/v1/series", json={"key": "lab2:new"}, headers=auth)
    assert refused.status_code == 403
    rule = {"dest": "lab2:copy", "agg": "avg", "bucket": "1m"}
    assert (
        await client.post("/v1/series/lab1:temp/rules", json=rule, headers=auth)
    ).status_code == 403
    # a label filter cannot select by key name: label queries need a filter-limited key
    query = await client.get("/v1/query", query_string={"filter": "kind=temp"}, headers=auth)
    assert query.status_code == 403
    assert (await client.get("/v1/series", headers=auth)).status_code == 403


async def test_a_filter_key_sees_only_matching_series_in_label_queries(
    client: QuartClient, data: None, make_key: MakeKey
) -> None:
    auth = bearer((await make_key("read", filters=["tenant=lab1"])).token)
    query = await client.get("/v1/query", query_string={"filter": "kind=temp"}, headers=auth)
    assert [s["key"] for s in (await query.get_json())["series"]] == ["lab1:temp"]
    listed = await client.get("/v1/series", headers=auth)
    assert [s["key"] for s in (await listed.get_json())["series"]] == ["lab1:hum", "lab1:temp"]
    latest = await client.get(
        "/v1/latest", query_string={"filter": "kind=(temp,hum)"}, headers=auth
    )
    assert {s["key"] for s in (await latest.get_json())["series"]} == {"lab1:temp", "lab1:hum"}
    values = await client.get("/v1/labels/tenant/values", headers=auth)
    assert (await values.get_json())["values"] == ["lab1"]
    # asking for another tenant's series by filter finds nothing rather than leaking them
    other = await client.get("/v1/query", query_string={"filter": "tenant=lab2"}, headers=auth)
    assert (await other.get_json())["series"] == []
    # nor does the filter[] spelling of the parameter drop the key's own filter
    sneaky = await client.get("/v1/query?filter[]=tenant=lab2&filter=kind=temp", headers=auth)
    assert (await sneaky.get_json())["series"] == []


async def test_a_filter_key_reaches_series_by_name_only_when_their_labels_match(
    client: QuartClient, data: None, make_key: MakeKey
) -> None:
    auth = bearer((await make_key("read", "write", filters=["tenant=lab1"])).token)
    assert (await client.get("/v1/series/lab1:hum", headers=auth)).status_code == 200
    outside = await client.get("/v1/series/misc/points", headers=auth)
    missing = await client.get("/v1/series/nothing/points", headers=auth)
    assert outside.status_code == missing.status_code == 403
    assert (
        await outside.get_data() != b""
        and (await outside.get_json())["detail"] == (await missing.get_json())["detail"]
    )
    created = await client.post(
        "/v1/series", json={"key": "lab1:co2", "labels": {"tenant": "lab1"}}, headers=auth
    )
    assert created.status_code == 201
    foreign = await client.post(
        "/v1/series", json={"key": "x", "labels": {"tenant": "lab2"}}, headers=auth
    )
    assert foreign.status_code == 403
    moved = await client.patch(
        "/v1/series/lab1:hum", json={"labels": {"tenant": "lab2"}}, headers=auth
    )
    assert moved.status_code == 403
    relabelled = await client.patch(
        "/v1/series/lab1:hum", json={"labels": {"tenant": "lab1", "unit": "%"}}, headers=auth
    )
    assert relabelled.status_code == 200


async def test_a_filter_key_deletes_only_within_its_reach(
    client: QuartClient, data: None, make_key: MakeKey, store: TimeSeriesStore
) -> None:
    auth = bearer((await make_key("write", filters=["tenant=lab1"])).token)
    deleted = await client.delete(
        "/v1/points", query_string={"filter": "kind=temp", "from": "-", "to": "+"}, headers=auth
    )
    assert (await deleted.get_json())["deleted"] == {"lab1:temp": 1}
    assert (await store.info("lab2:temp")).total_samples == 1
    assert (await store.info("misc")).total_samples == 1


async def test_limited_keys_cannot_use_jobs_bulk_writes_or_metrics(
    client: QuartClient, data: None, make_key: MakeKey
) -> None:
    auth = bearer((await make_key("read", "write", filters=["tenant=lab1"])).token)
    job = {"type": "stats", "params": {"keys": ["lab1:temp"]}}
    assert (await client.post("/v1/jobs", json=job, headers=auth)).status_code == 403
    assert (await client.get("/v1/jobs", headers=auth)).status_code == 403
    assert (await client.post("/v1/points", json=[], headers=auth)).status_code == 403
    assert (await client.get("/metrics", headers=auth)).status_code == 403
    assert (await client.get("/v1/job-types", headers=auth)).status_code == 200


@pytest.mark.parametrize(
    "text",
    [
        "tenant=lab1",
        "tenant!=lab1",
        "tenant=",
        "tenant!=",
        "tenant=(lab1,lab2)",
        "tenant!=(lab1,lab2)",
        "kind=temp",
        "kind!=(hum)",
    ],
)
async def test_label_filters_match_as_redis_timeseries_matches_them(
    store: TimeSeriesStore, text: str
) -> None:
    for key, labels in SERIES.items():
        await store.create(key, None)
        await store.client.execute_command("TS.ALTER", key, "LABELS", *sum(labels.items(), ()))
    positive = "kind=(temp,hum)"  # TS.QUERYINDEX needs one positive filter
    by_redis = set(await store.keys([positive, text]))
    by_us = {k for k, labels in SERIES.items() if filter_matches(text, labels)}
    assert by_redis == by_us
