"""An acknowledged write is a stored write: what the API answers matches what Redis holds."""

from __future__ import annotations

import redis
from quart.testing import QuartClient

from tests.api.test_points import points_of

IGNORING = {"ignore_max_time_diff": 1000, "ignore_max_val_diff": 0.5}


async def make(client: QuartClient, key: str, **options: object) -> None:
    response = await client.post("/v1/series", json={"key": key, **options})
    assert response.status_code == 201, await response.get_data(as_text=True)


async def test_put_sets_the_value_even_under_an_ignore_filter(client: QuartClient) -> None:
    await make(client, "i", **IGNORING)
    await client.post("/v1/series/i/points", json=[[3000, 1.2]])
    response = await client.put("/v1/series/i/points/3000", json={"v": 1.4})
    assert response.status_code == 200
    assert await response.get_json() == {"t": 3000, "v": 1.4}
    assert await points_of(client, "i") == [[3000, 1.4]]
    info = await (await client.get("/v1/series/i")).get_json()
    assert (info["ignore_max_time_diff"], info["ignore_max_val_diff"]) == (1000, 0.5)


async def test_points_dropped_by_the_ignore_filter_are_not_written(client: QuartClient) -> None:
    await make(client, "i", **IGNORING)
    await client.post("/v1/series/i/points", json=[[1000, 1.0]])
    response = await client.post("/v1/series/i/points", json=[[1500, 1.2], [1600, 9.0]])
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["written"], body["ignored"]) == (1, 1)
    (dropped,) = body["ignored_points"]
    assert (dropped["index"], dropped["t"], dropped["v"]) == (0, 1500, 1.2)
    assert "IGNORE" in dropped["reason"]
    assert await points_of(client, "i") == [[1000, 1.0], [1600, 9.0]]
    bulk = await client.post("/v1/points", json=[{"key": "i", "t": 1700, "v": 9.1}])
    assert await bulk.get_json() == {
        "written": 0,
        "series": 1,
        "created": 0,
        "ignored": 1,
        "ignored_points": [
            {"index": 0, "key": "i", "t": 1700, "v": 9.1, "reason": dropped["reason"]}
        ],
    }


async def test_points_older_than_the_retention_are_reported_not_written(
    client: QuartClient,
) -> None:
    await make(client, "r", retention="1h")
    response = await client.post("/v1/series/r/points", json=[["now", 1], ["-2h", 2]])
    assert response.status_code == 409  # refused by the data's state (api/errors.py)
    problem = await response.get_json()
    assert problem["written"] == 1
    assert [(p["index"], p["reason"]) for p in problem["rejected"]] == [
        (1, "timestamp is older than the series' retention window")
    ]
    assert len(await points_of(client, "r")) == 1


async def test_a_single_series_csv_export_imports_back_with_its_key(client: QuartClient) -> None:
    await make(client, "src")
    await client.post("/v1/series/src/points", json=[[1000, 1.5], [2000, 2.5], [3000, -1.0]])
    exported = await (await client.get("/v1/series/src/points?format=csv")).get_data()
    assert exported.startswith(b"t,v\n")
    headers = {"Content-Type": "text/csv"}
    refused = await client.post("/v1/points?create=true", data=exported, headers=headers)
    assert refused.status_code == 422
    assert "?key=" in (await refused.get_json())["detail"]
    assert (await client.get("/v1/series/v")).status_code == 404  # no series named "v"
    imported = await client.post("/v1/points?create=true&key=copy", data=exported, headers=headers)
    assert imported.status_code == 200, await imported.get_data(as_text=True)
    assert await points_of(client, "copy") == await points_of(client, "src")


async def test_the_duplicate_policy_in_force_is_shown_and_tsapis_default_is_last(
    client: QuartClient, redis_url: str
) -> None:
    await make(client, "mine")
    assert (await (await client.get("/v1/series/mine")).get_json())["duplicate_policy"] == "last"
    with redis.Redis.from_url(redis_url) as direct:
        direct.execute_command("TS.CREATE", "theirs")  # behind tsapi's back
    shown = await (await client.get("/v1/series/theirs")).get_json()
    assert shown["duplicate_policy"] == "block"  # the module's default, which applies
    once = await client.post("/v1/series/mine/points", json=[[1, 1.0], [2, 2.0]])
    again = await client.post("/v1/series/mine/points", json=[[1, 1.5], [2, 2.0]])
    assert (once.status_code, again.status_code) == (200, 200)  # re-ingest is harmless
    assert await points_of(client, "mine") == [[1, 1.5], [2, 2.0]]
