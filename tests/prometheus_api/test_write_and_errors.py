"""Remote write into tsapi (NaN, ±Inf and staleness markers kept, rejections reported),
Prometheus' error shapes, and API keys on the Prometheus routes (in-process app, real Redis)."""

from __future__ import annotations

import math

import pytest
from quart.testing import QuartClient

from promql import STALE_NAN
from promql.remote_write import encode_write_request
from tests.prometheus_api.conftest import REMOTE_WRITE_HEADERS
from tests.security.conftest import MakeKey, bearer, keystore, make_key

__all__ = ["keystore", "make_key"]

T0 = 1_700_000_000_000


async def _write(client: QuartClient, series: list, headers: dict | None = None):  # type: ignore[no-untyped-def]
    return await client.post(
        "/api/v1/write",
        data=encode_write_request(series),
        headers={**REMOTE_WRITE_HEADERS, **(headers or {})},
    )


async def _get(client: QuartClient, path: str, headers: dict | None = None, **params: str):  # type: ignore[no-untyped-def]
    response = await client.get(f"/api/v1/{path}", query_string=params, headers=headers or {})
    return response.status_code, await response.get_json()


async def test_special_values_round_trip(client: QuartClient) -> None:
    t = [T0 + i * 15_000 for i in range(6)]
    values = [1.0, math.nan, math.inf, -math.inf, 2.0, STALE_NAN]
    response = await _write(client, [({"__name__": "odd", "k": "v"}, t, values)])
    assert response.status_code == 204, await response.get_data()
    status, body = await _get(client, "query", query="odd[2m]", time=str((T0 + 80_000) / 1000))
    assert status == 200
    (series,) = body["data"]["result"]
    assert series["metric"] == {"__name__": "odd", "k": "v"}
    assert [v for _, v in series["values"]] == ["1", "NaN", "+Inf", "-Inf", "2"]
    # the staleness marker ends the series: nothing at an instant right after it
    status, body = await _get(client, "query", query="odd", time=str((T0 + 76_000) / 1000))
    assert body["data"]["result"] == []
    status, body = await _get(client, "query", query="odd", time=str((T0 + 61_000) / 1000))
    assert body["data"]["result"][0]["value"][1] == "2"
    # the companion stays hidden from tsapi's own listing
    listed = await (await client.get("/v1/series")).get_json()
    assert [s["key"] for s in listed["series"]] == ["odd:" + listed["series"][0]["key"][4:]]
    assert len(listed["series"]) == 1


async def _values(client: QuartClient, query: str, at: int) -> list[str]:
    status, body = await _get(client, "query", query=query, time=str(at / 1000))
    assert status == 200, body
    return [v for series in body["data"]["result"] for _, v in series.get("values", [])]


async def test_special_values_live_and_die_with_their_series(client: QuartClient) -> None:
    t = [T0 + i * 15_000 for i in range(3)]
    # a series whose only samples are special is created and found
    assert (await _write(client, [({"__name__": "gone"}, t, [math.nan] * 3)])).status_code == 204
    assert (await client.get("/v1/series/gone")).status_code == 200
    status, body = await _get(client, "series", **{"match[]": "gone"})
    assert status == 200
    assert [s["__name__"] for s in body["data"]] == ["gone"]
    assert await _values(client, "gone[1m]", t[-1]) == ["NaN"] * 3
    # a finite value written later at the same time replaces the code (the last write wins)
    assert (await _write(client, [({"__name__": "gone"}, t[1:2], [5.0])])).status_code == 204
    assert await _values(client, "gone[1m]", t[-1]) == ["NaN", "5", "NaN"]
    # deleting a range, then the series, takes the codes with them
    deleted = await client.delete(f"/v1/series/gone/points?from={t[0]}&to={t[0]}")
    assert deleted.status_code == 200
    assert await _values(client, "gone[1m]", t[-1]) == ["5", "NaN"]
    assert (await client.delete("/v1/series/gone")).status_code == 204
    assert (await _write(client, [({"__name__": "gone"}, t[:1], [7.0])])).status_code == 204
    assert await _values(client, "gone[1m]", t[-1]) == ["7"]  # no code of the old series


@pytest.mark.parametrize("others", [0, 100])
async def test_a_finite_value_replaces_a_code_in_a_write_of_many_series(
    client: QuartClient, others: int
) -> None:
    """Whether the write names one series or many (for many, tsapi first asks whether any
    series has a companion at all), a finite value replaces the code at its time."""
    t = [T0 + i * 15_000 for i in range(3)]
    fill = [({"__name__": "fill", "i": str(i)}, t, [1.0] * 3) for i in range(others)]
    assert (await _write(client, fill)).status_code == 204
    assert (await _write(client, [({"__name__": "mixed"}, t, [math.nan] * 3)])).status_code == 204
    later = [({"__name__": "mixed"}, t[1:2], [5.0]), *fill]
    assert (await _write(client, later)).status_code == 204
    assert await _values(client, "mixed[1m]", t[-1]) == ["NaN", "5", "NaN"]


async def test_keys_follow_the_scheme_and_labels_are_kept(client: QuartClient) -> None:
    response = await _write(
        client,
        [({"__name__": "solo"}, [T0], [1.0]), ({"__name__": "many", "a": "1"}, [T0], [2.0])],
    )
    assert response.status_code == 204
    listed = await (await client.get("/v1/series")).get_json()
    keys = sorted(s["key"] for s in listed["series"])
    assert keys[1] == "solo" and keys[0].startswith("many:") and len(keys[0]) == len("many:") + 12
    _status, body = await _get(client, "series", **{"match[]": "many"})
    assert body["data"] == [{"__name__": "many", "a": "1"}]


async def test_rejections_are_reported(client: QuartClient) -> None:
    response = await _write(
        client,
        [
            ({"__name__": "ok_metric"}, [T0, T0 + 1000], [1.0, 2.0]),
            ({"__name__": "bad_value", "path": 'a"b'}, [T0], [1.0]),
        ],
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert "1 samples rejected (2 written)" in body["error"] and "invalid value" in body["error"]
    _status, found = await _get(client, "query", query="ok_metric", time=str((T0 + 1000) / 1000))
    assert found["data"]["result"][0]["value"][1] == "2"


async def test_bad_input(client: QuartClient) -> None:
    status, body = await _get(client, "query", query="sum(", time="1700000000")
    assert status == 400 and body["status"] == "error" and body["errorType"] == "bad_data"
    status, body = await _get(client, "query", query="holt_winters(up[10m], 0.5, 0.5)")
    assert status == 422 and body["errorType"] == "execution" and "holt_winters" in body["error"]
    status, body = await _get(client, "query_range", query="up", start="0", end="1000000", step="1")
    assert status == 400 and body["errorType"] == "bad_data"
    assert body["error"] == (
        "exceeded maximum resolution of 11,000 points per timeseries. "
        "Try decreasing the query resolution (?step=XX)"
    )
    status, body = await _get(client, "series")
    assert status == 400 and body["error"] == "no match[] parameter provided"
    response = await client.post("/api/v1/write", data=b"not snappy", headers=REMOTE_WRITE_HEADERS)
    assert response.status_code == 400
    assert (await response.get_json())["errorType"] == "bad_data"


async def test_api_keys(client: QuartClient, make_key: MakeKey) -> None:
    writer = await make_key("write")
    reader = await make_key("read")
    limited = await make_key("read", filters=["team=a"])
    series = [
        ({"__name__": "jobs", "team": "a"}, [T0], [1.0]),
        ({"__name__": "jobs", "team": "b"}, [T0], [2.0]),
    ]
    refused = await _write(client, series)
    assert refused.status_code == 401
    assert (await refused.get_json())["status"] == "error"
    refused = await _write(client, series, bearer(reader.token))
    assert refused.status_code == 403
    body = await refused.get_json()
    assert body["status"] == "error" and body["errorType"] == "forbidden"
    assert (await _write(client, series, bearer(writer.token))).status_code == 204
    at = str(T0 / 1000)
    status, body = await _get(client, "query", bearer(reader.token), query="jobs", time=at)
    assert status == 200 and len(body["data"]["result"]) == 2
    response = await client.post(
        "/api/v1/query", form={"query": "jobs", "time": at}, headers=bearer(reader.token)
    )
    assert response.status_code == 200, await response.get_data()
    status, body = await _get(client, "query", bearer(limited.token), query="jobs", time=at)
    assert [s["metric"]["team"] for s in body["data"]["result"]] == ["a"]
    status, body = await _get(
        client, "query", bearer(limited.token), query='sum(jobs{team="b"})', time=at
    )
    assert body["data"]["result"] == []
    status, body = await _get(client, "series", bearer(limited.token), **{"match[]": "jobs"})
    assert body["data"] == [{"__name__": "jobs", "team": "a"}]
    status, body = await _get(client, "label/team/values", bearer(limited.token))
    assert body["data"] == ["a"]
    status, body = await _get(client, "label/team/values", bearer(reader.token))
    assert body["data"] == ["a", "b"]


@pytest.mark.parametrize("path", ["/api/v1/status/buildinfo", "/prometheus/api/v1/metadata"])
async def test_not_in_openapi_document(client: QuartClient, path: str) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    assert not any("api/v1" in p for p in document["paths"])
    assert (await client.get(path)).status_code == 200
