import pytest
from quart.testing import QuartClient


@pytest.fixture
async def cities(client: QuartClient) -> None:
    for key, city, values in (
        ("t:austin", "austin", [1, 2, 3]),
        ("t:boston", "boston", [10, 20, 30]),
        ("t:dallas", "dallas", [100, 200, 300]),
    ):
        labels = {"city": city, "kind": "temp", "region": "south" if city != "boston" else "east"}
        await client.post("/v1/series", json={"key": key, "labels": labels})
        points = [{"t": (i + 1) * 1000, "v": v} for i, v in enumerate(values)]
        await client.post(f"/v1/series/{key}/points", json=points)
    await client.post("/v1/series", json={"key": "h:austin", "labels": {"kind": "hum"}})


async def query(client: QuartClient, q: str) -> list[dict]:
    response = await client.get(f"/v1/query?{q}")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return (await response.get_json())["series"]


async def test_query_by_label_returns_each_series_with_labels(
    client: QuartClient, cities: None
) -> None:
    series = await query(client, "filter=kind=temp")
    assert [s["key"] for s in series] == ["t:austin", "t:boston", "t:dallas"]
    assert series[0]["labels"]["city"] == "austin"
    assert series[1]["points"] == [[1000, 10.0], [2000, 20.0], [3000, 30.0]]


async def test_query_with_negative_and_list_filters(client: QuartClient, cities: None) -> None:
    keys = [s["key"] for s in await query(client, "filter=kind=temp&filter=city!=boston")]
    assert keys == ["t:austin", "t:dallas"]
    keys = [s["key"] for s in await query(client, "filter=city=(boston,dallas)")]
    assert keys == ["t:boston", "t:dallas"]


async def test_query_range_aggregation_and_reverse(client: QuartClient, cities: None) -> None:
    series = await query(client, "filter=city=dallas&from=2000&agg=sum&bucket=10s")
    assert series[0]["points"] == [[0, 500.0]]
    series = await query(client, "filter=city=dallas&reverse=true&count=1")
    assert series[0]["points"] == [[3000, 300.0]]


async def test_query_group_by_reduce(client: QuartClient, cities: None) -> None:
    series = await query(client, "filter=kind=temp&group_by=region&reduce=sum")
    by_key = {s["key"]: s for s in series}
    assert set(by_key) == {"region=east", "region=south"}
    assert by_key["region=south"]["points"] == [[1000, 101.0], [2000, 202.0], [3000, 303.0]]


async def test_query_selected_labels_and_without_labels(client: QuartClient, cities: None) -> None:
    series = await query(client, "filter=kind=temp&selected_labels=city")
    assert series[0]["labels"] == {"city": "austin"}
    series = await query(client, "filter=kind=temp&with_labels=false")
    assert series[0]["labels"] == {}


async def test_query_errors(client: QuartClient, cities: None) -> None:
    for q in (
        "",
        "filter=kind",
        "filter=kind!=temp",
        "filter=kind=temp&group_by=region",
        "filter=kind=temp&reduce=sum",
        "filter=kind=temp&reduce=median&group_by=city",
        "filter=kind=temp&agg=avg&bucket=1s&max_points=5",
        "filter=kind=temp&limit=5",
        "filter=kind=temp&fill=zero",
        "filter=kind=temp&from=5&to=1",
    ):
        response = await client.get(f"/v1/query?{q}")
        assert response.status_code == 422, q
        assert response.mimetype == "application/problem+json"


async def test_query_matching_nothing_is_an_empty_list(client: QuartClient, cities: None) -> None:
    assert await query(client, "filter=city=paris") == []


async def test_latest_values_by_filter(client: QuartClient, cities: None) -> None:
    response = await client.get("/v1/latest?filter=region=south")
    body = await response.get_json()
    assert body["series"] == [
        {
            "key": "t:austin",
            "labels": {"city": "austin", "kind": "temp", "region": "south"},
            "t": 3000,
            "v": 3.0,
        },
        {
            "key": "t:dallas",
            "labels": {"city": "dallas", "kind": "temp", "region": "south"},
            "t": 3000,
            "v": 300.0,
        },
    ]
    empty = await (await client.get("/v1/latest?filter=kind=hum")).get_json()
    assert empty["series"][0]["t"] is None
    assert (await client.get("/v1/latest")).status_code == 422


async def test_latest_values_with_some_labels_or_none(client: QuartClient, cities: None) -> None:
    chosen = await client.get("/v1/latest?filter=region=south&selected_labels=city")
    assert [s["labels"] for s in (await chosen.get_json())["series"]] == [
        {"city": "austin"},
        {"city": "dallas"},
    ]
    bare = await client.get("/v1/latest?filter=region=south&with_labels=false")
    assert [s["labels"] for s in (await bare.get_json())["series"]] == [{}, {}]


@pytest.mark.parametrize(
    "q",
    [
        "filter=kind=temp",
        "filter=kind=temp&from=1500&to=2500",
        "filter=kind=temp&agg=max&bucket=2000",
        "filter=kind=temp&agg=avg&bucket=500&from=0&to=4000&fill=previous",
        "filter=kind=temp&max_points=2",
        "filter=kind=temp&fn=rate&count=2",
        "filter=region=south&selected_labels=city",
        "filter=kind=temp&format=csv",
        "filter=kind=hum",
    ],
)
async def test_one_mrange_answers_as_the_series_by_series_stream_does(
    client: QuartClient, cities: None, q: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = await client.get(f"/v1/query?{q}")
    monkeypatch.setattr("api.reading.MRANGE_POINTS", 0)
    streamed = await client.get(f"/v1/query?{q}")
    assert whole.status_code == streamed.status_code == 200
    assert await whole.get_data() == await streamed.get_data()
