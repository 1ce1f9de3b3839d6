import pytest
from quart.testing import QuartClient


@pytest.fixture
async def series(client: QuartClient) -> str:
    response = await client.post("/v1/series", json={"key": "s", "labels": {"kind": "t"}})
    assert response.status_code == 201
    return "s"


async def points_of(client: QuartClient, key: str, query: str = "") -> list[list[float]]:
    response = await client.get(f"/v1/series/{key}/points{query}")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return (await response.get_json())["points"]


async def test_write_one_point_and_read_it_back(client: QuartClient, series: str) -> None:
    response = await client.post("/v1/series/s/points", json={"t": 1000, "v": 1.5})
    assert response.status_code == 200
    assert (await response.get_json()) == {"written": 1, "created": False}
    assert await points_of(client, "s") == [[1000, 1.5]]


async def test_write_a_batch_in_any_order_reads_back_sorted(
    client: QuartClient, series: str
) -> None:
    batch = [{"t": t, "v": t / 10} for t in (5000, 1000, 3000, 2000, 4000)]
    response = await client.post("/v1/series/s/points", json=batch)
    assert (await response.get_json())["written"] == 5
    assert await points_of(client, "s") == [[t, t / 10] for t in (1000, 2000, 3000, 4000, 5000)]


async def test_timestamps_accept_iso_and_pairs(client: QuartClient, series: str) -> None:
    body = [{"t": "1970-01-01T00:00:01Z", "v": 1}, [2000, 2], ["1970-01-01T00:00:03.5+00:00", 3]]
    response = await client.post("/v1/series/s/points", json=body)
    assert response.status_code == 200
    assert await points_of(client, "s") == [[1000, 1.0], [2000, 2.0], [3500, 3.0]]


async def test_relative_timestamps_land_near_now(client: QuartClient, series: str) -> None:
    await client.post("/v1/series/s/points", json=[{"t": "now", "v": 1}, {"t": "-1h", "v": 2}])
    points = await points_of(client, "s", "?from=-2h&to=now")
    assert [p[1] for p in points] == [2.0, 1.0]
    assert 3_599_000 <= points[1][0] - points[0][0] <= 3_601_000


async def test_a_batch_with_bad_points_writes_nothing_and_names_each(
    client: QuartClient, series: str
) -> None:
    body = [
        {"t": 1, "v": 1},
        {"t": 2, "v": "x"},
        {"t": "yesterday-ish", "v": 1},
        {"t": -5, "v": 1},
        {"t": 3, "v": True},
        {"t": 4},
        {"t": 5, "v": 1, "w": 2},
        "nonsense",
    ]
    response = await client.post("/v1/series/s/points", json=body)
    assert response.status_code == 422
    problem = await response.get_json()
    assert [e["index"] for e in problem["errors"]] == [1, 2, 3, 4, 5, 6, 7]
    assert problem["errors"][0]["field"] == "v"
    assert "nothing was written" in problem["detail"]
    assert await points_of(client, "s") == []


async def test_nan_and_infinity_are_rejected(client: QuartClient, series: str) -> None:
    for raw in (b'{"t": 1, "v": NaN}', b'{"t": 1, "v": Infinity}', b'{"t": 1, "v": 1e999}'):
        response = await client.post(
            "/v1/series/s/points", data=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code in (400, 422), raw
        assert response.mimetype == "application/problem+json"
    assert await points_of(client, "s") == []


async def test_malformed_json_is_400_and_wrong_type_415(client: QuartClient, series: str) -> None:
    response = await client.post(
        "/v1/series/s/points", data=b"[{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert (await response.get_json())["title"] == "Malformed JSON"
    response = await client.post(
        "/v1/series/s/points", data=b"t=1", headers={"Content-Type": "text/x-whatever"}
    )
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


async def test_empty_batch_is_422(client: QuartClient, series: str) -> None:
    assert (await client.post("/v1/series/s/points", json=[])).status_code == 422


async def test_write_to_unknown_series_is_404_unless_create(client: QuartClient) -> None:
    response = await client.post("/v1/series/new/points", json={"t": 1, "v": 1})
    assert response.status_code == 404
    response = await client.post(
        "/v1/series/new/points?create=true",
        json={"points": [{"t": 1, "v": 1}], "labels": {"city": "austin"}},
    )
    assert response.status_code == 201
    assert (await response.get_json()) == {"written": 1, "created": True}
    info = await (await client.get("/v1/series/new")).get_json()
    assert info["labels"] == {"city": "austin"}


async def test_duplicates_blocked_by_policy_are_reported_per_point(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "b", "duplicate_policy": "block"})
    await client.post("/v1/series/b/points", json=[{"t": 1, "v": 1}, {"t": 2, "v": 2}])
    response = await client.post(
        "/v1/series/b/points", json=[{"t": 2, "v": 20}, {"t": 3, "v": 3}, {"t": 1, "v": 10}]
    )
    assert response.status_code == 409
    problem = await response.get_json()
    assert problem["written"] == 1
    assert [(e["index"], e["t"]) for e in problem["rejected"]] == [(0, 2), (2, 1)]
    assert "duplicate" in problem["rejected"][0]["reason"]
    assert await points_of(client, "b") == [[1, 1.0], [2, 2.0], [3, 3.0]]


async def test_points_older_than_retention_are_rejected(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "r", "retention": 1000})
    await client.post("/v1/series/r/points", json={"t": 10_000, "v": 1})
    response = await client.post("/v1/series/r/points", json=[{"t": 100, "v": 1}])
    assert response.status_code == 409
    problem = await response.get_json()
    assert "retention" in problem["rejected"][0]["reason"]


async def test_put_updates_a_value_whatever_the_policy(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "b", "duplicate_policy": "block"})
    await client.post("/v1/series/b/points", json={"t": 1000, "v": 1})
    response = await client.put("/v1/series/b/points/1000", json={"v": 42})
    assert response.status_code == 200
    assert (await response.get_json()) == {"t": 1000, "v": 42.0}
    response = await client.put("/v1/series/b/points/1970-01-01T00:00:02Z", json={"v": 7})
    assert response.status_code == 201
    assert await points_of(client, "b") == [[1000, 42.0], [2000, 7.0]]
    assert (await client.put("/v1/series/none/points/1", json={"v": 1})).status_code == 404
    assert (await client.put("/v1/series/b/points/soon", json={"v": 1})).status_code == 422


async def test_delete_a_range_returns_the_count(client: QuartClient, series: str) -> None:
    await client.post("/v1/series/s/points", json=[{"t": t, "v": t} for t in range(1, 11)])
    response = await client.delete("/v1/series/s/points?from=3&to=6")
    assert response.status_code == 200
    assert (await response.get_json()) == {"deleted": 4}
    assert [p[0] for p in await points_of(client, "s")] == [1, 2, 7, 8, 9, 10]
    everything = await client.delete("/v1/series/s/points?from=-&to=%2B")
    assert (await everything.get_json()) == {"deleted": 6}


async def test_delete_range_needs_both_bounds_in_order(client: QuartClient, series: str) -> None:
    assert (await client.delete("/v1/series/s/points")).status_code == 422
    assert (await client.delete("/v1/series/s/points?from=1")).status_code == 422
    assert (await client.delete("/v1/series/s/points?from=9&to=1")).status_code == 422
    assert (await client.delete("/v1/series/x/points?from=1&to=2")).status_code == 404


async def test_range_options(client: QuartClient, series: str) -> None:
    await client.post("/v1/series/s/points", json=[{"t": t * 1000, "v": t} for t in range(10)])
    assert [p[0] for p in await points_of(client, "s", "?from=2000&to=4000")] == [2000, 3000, 4000]
    assert [p[1] for p in await points_of(client, "s", "?reverse=true&count=2")] == [9.0, 8.0]
    assert await points_of(client, "s", "?filter_by_value=3,4") == [[3000, 3.0], [4000, 4.0]]
    assert await points_of(
        client, "s", "?filter_by_ts=1000&filter_by_ts=5000&filter_by_ts=7000"
    ) == [
        [1000, 1.0],
        [5000, 5.0],
        [7000, 7.0],
    ]
    assert await points_of(client, "s", "?from=1970-01-01T00:00:08Z") == [[8000, 8.0], [9000, 9.0]]


async def test_aggregation_options(client: QuartClient, series: str) -> None:
    await client.post(
        "/v1/series/s/points", json=[{"t": t, "v": t} for t in (0, 1000, 2000, 3000, 7000)]
    )
    response = await client.get("/v1/series/s/points?agg=sum&bucket=2s")
    body = await response.get_json()
    assert body["aggregation"] == "sum"
    assert body["bucket_ms"] == 2000
    assert body["points"] == [[0, 1000.0], [2000, 5000.0], [6000, 7000.0]]
    empty = await points_of(client, "s", "?agg=count&bucket=2000&empty=true")
    assert empty == [[0, 2.0], [2000, 2.0], [4000, 0.0], [6000, 1.0]]
    ends = await points_of(client, "s", "?agg=max&bucket=2s&bucket_timestamp=end")
    assert [p[0] for p in ends] == [2000, 4000, 8000]
    aligned = await points_of(client, "s", "?agg=count&bucket=2s&align=1000")
    # buckets start at 1000 + k*2000; the one before 0 is reported at 0, as the module does
    assert aligned == [[0, 1.0], [1000, 2.0], [3000, 1.0], [7000, 1.0]]
    start = await points_of(client, "s", "?agg=avg&bucket=2s&align=start&from=1000")
    assert start == [[1000, 1500.0], [3000, 3000.0], [7000, 7000.0]]


async def test_bad_range_options_are_422(client: QuartClient, series: str) -> None:
    for query in (
        "agg=median&bucket=1s",
        "bucket=1s",
        "agg=avg&bucket=1s&max_points=10",
        "fill=zero",
        "fn=rate&reverse=true",
        "max_points=0",
        "format=xml",
        "agg=avg&bucket=0",
        "agg=avg&bucket=-5",
        "from=5000&to=1000",
        "from=someday",
        "count=0",
        "filter_by_value=5",
        "filter_by_value=9,1",
        "empty=true",
        "aggregation=avg",
    ):
        response = await client.get(f"/v1/series/s/points?{query}")
        assert response.status_code == 422, query
        assert response.mimetype == "application/problem+json"


async def test_range_of_unknown_series_is_404(client: QuartClient) -> None:
    assert (await client.get("/v1/series/nope/points")).status_code == 404


async def test_body_over_the_limit_is_413(client: QuartClient, series: str, app) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    big = [{"t": t, "v": 1.0} for t in range(200)]
    response = await client.post("/v1/series/s/points", json=big)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert await points_of(client, "s") == []
