"""What the API adds to ranges: max_points, fill, fn, CSV, streaming and paging."""

import csv
import io

import numpy as np
import pytest
from quart.testing import QuartClient

from tsdb.store import TimeSeriesStore


@pytest.fixture
async def gappy(client: QuartClient) -> str:
    await client.post("/v1/series", json={"key": "g", "labels": {"kind": "gap"}})
    points = [[0, 1.0], [1000, 2.0], [4000, 8.0], [5000, 10.0]]  # buckets 2 and 3 empty
    await client.post("/v1/series/g/points", json=points)
    return "g"


async def get(client: QuartClient, url: str) -> dict:
    response = await client.get(url)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


@pytest.mark.parametrize(
    ("fill", "expected"),
    [
        ("null", [1.0, 2.0, None, None, 8.0, 10.0]),
        ("zero", [1.0, 2.0, 0.0, 0.0, 8.0, 10.0]),
        ("previous", [1.0, 2.0, 2.0, 2.0, 8.0, 10.0]),
        ("linear", [1.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
    ],
)
async def test_fill_policies(client: QuartClient, gappy: str, fill: str, expected: list) -> None:
    body = await get(client, f"/v1/series/g/points?agg=avg&bucket=1s&fill={fill}")
    assert body["fill"] == fill
    assert [p[1] for p in body["points"]] == expected
    assert [p[0] for p in body["points"]] == [0, 1000, 2000, 3000, 4000, 5000]


async def test_fill_linear_joins_across_pages(client: QuartClient, store: TimeSeriesStore) -> None:
    # a gap wider than one page of buckets is still interpolated end to end
    await store.create("wide")
    await store.add_many([("wide", 0, 0.0), ("wide", 120_000, 120.0)])
    body = await get(client, "/v1/series/wide/points?agg=max&bucket=1&fill=linear")
    values = [p[1] for p in body["points"]]
    assert len(values) == 120_001
    assert values == pytest.approx([float(i) / 1000 for i in range(120_001)])


async def test_functions(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "c"})
    counter = [[0, 0], [1000, 10], [2000, 30], [3000, 5], [5000, 15]]  # reset at 3000
    await client.post("/v1/series/c/points", json=counter)
    rate = await get(client, "/v1/series/c/points?fn=rate")
    assert rate["points"] == [[1000, 10.0], [2000, 20.0], [3000, 5.0], [5000, 5.0]]
    derivative = await get(client, "/v1/series/c/points?fn=derivative")
    assert [p[1] for p in derivative["points"]] == [10.0, 20.0, -25.0, 5.0]
    delta = await get(client, "/v1/series/c/points?fn=delta")
    assert [p[1] for p in delta["points"]] == [10.0, 20.0, -25.0, 10.0]
    cumsum = await get(client, "/v1/series/c/points?fn=cumsum")
    assert [p[1] for p in cumsum["points"]] == [0.0, 10.0, 40.0, 45.0, 60.0]


async def test_max_points_picks_the_bucket(client: QuartClient, store: TimeSeriesStore) -> None:
    await store.create("m")
    await store.add_many([("m", t, float(t)) for t in range(0, 100_000, 10)])  # 10,000 samples
    body = await get(client, "/v1/series/m/points?max_points=100")
    assert body["aggregation"] == "avg"
    assert body["bucket_ms"] == 1000
    assert len(body["points"]) == 100
    raw = await get(client, "/v1/series/m/points?max_points=20000")
    assert "aggregation" not in raw and len(raw["points"]) == 10_000
    default = await get(client, "/v1/series/m/points?agg=max")  # no bucket: 2,000 points at most
    assert default["bucket_ms"] == 50
    assert len(default["points"]) == 2000
    assert default["points"][-1] == [99_950, 99_990.0]


async def test_csv_by_parameter_or_accept_header(client: QuartClient, gappy: str) -> None:
    response = await client.get("/v1/series/g/points?format=csv")
    assert response.mimetype == "text/csv"
    assert await response.get_data(as_text=True) == "t,v\n0,1.0\n1000,2.0\n4000,8.0\n5000,10.0\n"
    response = await client.get(
        "/v1/series/g/points?agg=avg&bucket=1s&fill=null", headers={"Accept": "text/csv"}
    )
    assert (await response.get_data(as_text=True)).splitlines()[3] == "2000,"


async def test_paging_with_limit_and_cursor(client: QuartClient, store: TimeSeriesStore) -> None:
    await store.create("p")
    await store.add_many([("p", t, float(t)) for t in range(1, 11)])
    seen: list[int] = []
    url = "/v1/series/p/points?limit=4"
    while True:
        page = await get(client, url)
        seen.extend(p[0] for p in page["points"])
        if page["next"] is None:
            break
        url = f"/v1/series/p/points?limit=4&cursor={page['next']}"
    assert seen == list(range(1, 11))
    reverse = await get(client, "/v1/series/p/points?limit=3&reverse=true")
    assert [p[0] for p in reverse["points"]] == [10, 9, 8] and reverse["next"] == 7
    for beyond in ("reverse=true&cursor=0", "cursor=11"):  # past the data: an empty last page
        page = await get(client, f"/v1/series/p/points?limit=3&{beyond}")
        assert page["points"] == [] and page["next"] is None
    refused = await client.get("/v1/series/p/points?from=5&to=2")
    assert refused.status_code == 422  # the caller's own bounds crossed: an error


async def test_query_streams_csv_and_json_with_transforms(client: QuartClient, gappy: str) -> None:
    await client.post("/v1/series", json={"key": "h", "labels": {"kind": "gap"}})
    await client.post("/v1/series/h/points", json=[[0, 5], [5000, 5]])
    body = await get(client, "/v1/query?filter=kind=gap&agg=sum&bucket=1s&fill=zero&fn=cumsum")
    by_key = {s["key"]: s["points"] for s in body["series"]}
    assert body["aggregation"] == "sum" and body["fn"] == "cumsum"
    assert by_key["h"] == [
        [0, 5.0],
        [1000, 5.0],
        [2000, 5.0],
        [3000, 5.0],
        [4000, 5.0],
        [5000, 10.0],
    ]
    text = await (await client.get("/v1/query?filter=kind=gap&format=csv")).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["key", "t", "v"]
    assert rows[1:] == [
        ["g", "0", "1.0"],
        ["g", "1000", "2.0"],
        ["g", "4000", "8.0"],
        ["g", "5000", "10.0"],
        ["h", "0", "5.0"],
        ["h", "5000", "5.0"],
    ]


async def test_a_streamed_million_points_arrive_complete(
    client: QuartClient, store: TimeSeriesStore
) -> None:
    store.chunk_points = 50_000
    await store.create("big")
    ts = np.arange(1_000_000, dtype=np.int64) * 10
    await store.add_many([("big", int(t), float(t % 977)) for t in ts])
    body = await get(client, "/v1/series/big/points")
    points = np.asarray(body["points"])
    assert points.shape == (1_000_000, 2)
    assert (points[:, 0] == ts).all()
    assert (points[:, 1] == ts % 977).all()
    text = await (await client.get("/v1/series/big/points?format=csv")).get_data(as_text=True)
    assert text.count("\n") == 1_000_001
    assert text.endswith(f"{ts[-1]},{float(ts[-1] % 977)}\n")


async def test_label_discovery(client: QuartClient) -> None:
    for key, labels in (
        ("a", {"city": "austin", "kind": "t"}),
        ("b", {"city": "boston"}),
        ("c", {"kind": "h", "unit": "%"}),
    ):
        await client.post("/v1/series", json={"key": key, "labels": labels})
    assert (await get(client, "/v1/labels"))["labels"] == ["city", "kind", "unit"]
    assert (await get(client, "/v1/labels?filter=kind=t"))["labels"] == ["city", "kind"]
    values = await get(client, "/v1/labels/city/values")
    assert values == {"label": "city", "values": ["austin", "boston"]}
    assert (await get(client, "/v1/labels/kind/values?filter=city=austin"))["values"] == ["t"]
    assert (await client.get("/v1/labels/bad name/values")).status_code == 422


async def test_label_values_with_counts_follow_relabels_and_deletes(client: QuartClient) -> None:
    for key, city in (("a", "austin"), ("b", "austin"), ("c", "boston")):
        await client.post("/v1/series", json={"key": key, "labels": {"city": city}})
    await client.patch("/v1/series/c", json={"labels": {"city": "austin", "kind": "t"}})
    await client.delete("/v1/series/a")
    counted = await get(client, "/v1/labels/city/values?with_counts=true")
    assert counted == {"label": "city", "values": ["austin"], "counts": {"austin": 2}}
    narrowed = await get(client, "/v1/labels/city/values?with_counts=true&filter=kind=t")
    assert narrowed["counts"] == {"austin": 1}
    assert "counts" not in await get(client, "/v1/labels/city/values")


async def test_delete_a_range_by_label_filter(client: QuartClient) -> None:
    for key, kind in (("a", "t"), ("b", "t"), ("c", "h")):
        await client.post("/v1/series", json={"key": key, "labels": {"kind": kind}})
        await client.post(f"/v1/series/{key}/points", json=[[t, 1] for t in range(1, 6)])
    response = await client.delete("/v1/points?filter=kind=t&from=2&to=4")
    assert response.status_code == 200
    assert (await response.get_json()) == {"deleted": {"a": 3, "b": 3}, "total": 6}
    assert len((await get(client, "/v1/series/c/points"))["points"]) == 5
    nothing = await client.delete("/v1/points?filter=kind=nope&from=-&to=%2B")
    assert nothing.status_code == 404
    assert (await client.delete("/v1/points?filter=kind=t")).status_code == 422


async def test_fill_over_too_many_buckets_widens_the_bucket(
    client: QuartClient, gappy: str
) -> None:
    response = await client.get("/v1/series/g/points?agg=avg&bucket=1&fill=zero&to=10000000000")
    assert response.status_code == 200
    answer = await response.get_json()
    assert answer["bucket_ms"] > 1  # at most 1,000,000 buckets: the answer says which bucket
    assert len(answer["points"]) <= 1_000_001


@pytest.mark.parametrize(
    ("options", "first", "last"),
    [
        ("fill=zero", [0, 0.0], [150, 0.0]),
        ("fill=null", [0, None], [150, None]),
        ("empty=true", [0, None], [150, None]),
        ("fill=zero&bucket_timestamp=end", [10, 0.0], [160, 0.0]),
        ("fill=zero&reverse=true", [150, 0.0], [0, 0.0]),
    ],
)
async def test_filled_answers_cover_the_requested_range(
    client: QuartClient, options: str, first: list, last: list
) -> None:
    await client.post("/v1/series", json={"key": "edge"})
    await client.post("/v1/series/edge/points", json=[[t, 1.0] for t in range(20, 100, 10)])
    body = await get(client, f"/v1/series/edge/points?agg=sum&bucket=10&from=0&to=150&{options}")
    points = body["points"]
    assert len(points) == 16  # buckets 0, 10, ..., 150
    assert points[0] == first and points[-1] == last
    offset = 10 if "bucket_timestamp=end" in options else 0  # a bucket reports its end
    assert sorted(p[0] for p in points) == [t + offset for t in range(0, 160, 10)]
    assert sum(p[1] or 0 for p in points) == 8.0
