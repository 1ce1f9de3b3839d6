from quart.testing import QuartClient


async def create(client: QuartClient, key: str = "temp:austin", **extra: object) -> dict:
    response = await client.post("/v1/series", json={"key": key, **extra})
    assert response.status_code == 201, await response.get_data(as_text=True)
    return await response.get_json()


async def test_create_series_with_every_option(client: QuartClient) -> None:
    body = await create(
        client,
        labels={"city": "austin", "kind": "temperature"},
        retention="7d",
        duplicate_policy="last",
        chunk_size=128,
        encoding="uncompressed",
        ignore_max_time_diff="1s",
        ignore_max_val_diff=0.5,
    )
    assert body["key"] == "temp:austin"
    assert body["labels"] == {"city": "austin", "kind": "temperature"}
    assert body["retention_ms"] == 7 * 86_400_000
    assert body["duplicate_policy"] == "last"
    assert body["chunk_size"] == 128
    assert body["encoding"] == "uncompressed"
    assert body["ignore_max_time_diff"] == 1000
    assert body["ignore_max_val_diff"] == 0.5
    assert body["total_samples"] == 0
    assert body["first_timestamp"] is None


async def test_create_returns_location_of_the_new_series(client: QuartClient) -> None:
    response = await client.post("/v1/series", json={"key": "a.b-c:d_e"})
    assert response.status_code == 201
    assert response.headers["Location"] == "/v1/series/a.b-c:d_e"
    assert (await client.get(response.headers["Location"])).status_code == 200


async def test_creating_an_existing_series_is_409(client: QuartClient) -> None:
    await create(client)
    response = await client.post("/v1/series", json={"key": "temp:austin"})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    body = await response.get_json()
    assert body["title"] == "Series already exists"
    assert body["status"] == 409


async def test_invalid_keys_and_labels_are_422(client: QuartClient) -> None:
    for key in ("", "has space", "slash/key", "x" * 257, "tsapi:reserved", "rq:job", "é"):
        response = await client.post("/v1/series", json={"key": key})
        assert response.status_code == 422, key
        assert response.mimetype == "application/problem+json"
    for labels in ({"1bad": "x"}, {"ok": ""}, {"ok": "a,b"}, {"ok": "x)"}, {"bad name": "x"}):
        response = await client.post("/v1/series", json={"key": "k", "labels": labels})
        assert response.status_code == 422, labels


async def test_unknown_fields_and_bad_options_are_422(client: QuartClient) -> None:
    cases = [
        {"key": "k", "retension": "1d"},
        {"key": "k", "duplicate_policy": "sometimes"},
        {"key": "k", "retention": "forever"},
        {"key": "k", "chunk_size": 7},
        {"key": "k", "encoding": "zip"},
        {"key": 5},
    ]
    for body in cases:
        response = await client.post("/v1/series", json=body)
        assert response.status_code == 422, body
        problem = await response.get_json()
        assert problem["title"] == "Invalid input"


async def test_get_unknown_series_is_404(client: QuartClient) -> None:
    response = await client.get("/v1/series/nope")
    assert response.status_code == 404
    body = await response.get_json()
    assert body["key"] == "nope"
    assert "does not exist" in body["detail"]


async def test_list_series_with_filters_and_paging(client: QuartClient) -> None:
    await create(client, "t1", labels={"city": "austin", "kind": "t"})
    await create(client, "t2", labels={"city": "boston", "kind": "t"})
    await create(client, "h1", labels={"city": "austin", "kind": "h"})
    everything = await (await client.get("/v1/series")).get_json()
    assert [s["key"] for s in everything["series"]] == ["h1", "t1", "t2"]
    assert everything["next"] is None

    austin = await (await client.get("/v1/series?filter=city=austin")).get_json()
    assert [s["key"] for s in austin["series"]] == ["h1", "t1"]
    assert austin["series"][0]["labels"] == {"city": "austin", "kind": "h"}

    both = await (await client.get("/v1/series?filter=city=austin&filter=kind=t")).get_json()
    assert [s["key"] for s in both["series"]] == ["t1"]
    listed = await client.get("/v1/series?filter=city=(austin,boston)&filter=kind!=h")
    assert [s["key"] for s in (await listed.get_json())["series"]] == ["t1", "t2"]

    page1 = await (await client.get("/v1/series?limit=2")).get_json()
    assert [s["key"] for s in page1["series"]] == ["h1", "t1"]
    page2 = await (await client.get(f"/v1/series?limit=2&after={page1['next']}")).get_json()
    assert [s["key"] for s in page2["series"]] == ["t2"]
    assert page2["next"] is None


async def test_list_with_an_invalid_or_purely_negative_filter_is_422(client: QuartClient) -> None:
    for query in ("filter=city", "filter=city!=austin", "filter=ci ty=x", "filter=a=b c)"):
        response = await client.get(f"/v1/series?{query}")
        assert response.status_code == 422, query


async def test_patch_changes_labels_retention_and_policy(client: QuartClient) -> None:
    await create(client, labels={"city": "austin"})
    response = await client.patch(
        "/v1/series/temp:austin",
        json={
            "labels": {"city": "dallas", "unit": "C"},
            "retention": 60000,
            "duplicate_policy": "max",
        },
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["labels"] == {"city": "dallas", "unit": "C"}
    assert body["retention_ms"] == 60000
    assert body["duplicate_policy"] == "max"
    again = await (await client.get("/v1/series/temp:austin")).get_json()
    assert again["labels"] == {"city": "dallas", "unit": "C"}


async def test_patch_unknown_series_is_404_and_bad_values_422(client: QuartClient) -> None:
    assert (await client.patch("/v1/series/nope", json={"retention": 10})).status_code == 404
    await create(client)
    response = await client.patch("/v1/series/temp:austin", json={"encoding": "compressed"})
    assert response.status_code == 422


async def test_delete_series_removes_it(client: QuartClient) -> None:
    await create(client)
    assert (await client.delete("/v1/series/temp:austin")).status_code == 204
    assert (await client.get("/v1/series/temp:austin")).status_code == 404
    assert (await client.delete("/v1/series/temp:austin")).status_code == 404
