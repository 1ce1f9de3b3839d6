from quart.testing import QuartClient


async def test_rule_compacts_new_samples_into_the_destination(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "raw"})
    response = await client.post(
        "/v1/series/raw/rules",
        json={"dest": "raw:avg1m", "agg": "avg", "bucket": "1m", "dest_labels": {"of": "raw"}},
    )
    assert response.status_code == 201
    assert (await response.get_json()) == {
        "dest": "raw:avg1m",
        "bucket_ms": 60000,
        "aggregation": "avg",
        "align_ms": 0,
    }
    dest = await (await client.get("/v1/series/raw:avg1m")).get_json()
    assert dest["labels"] == {"of": "raw"}
    assert dest["source_key"] == "raw"
    points = [{"t": t, "v": v} for t, v in ((0, 1), (30_000, 3), (60_000, 10), (120_000, 0))]
    await client.post("/v1/series/raw/points", json=points)
    compacted = await (await client.get("/v1/series/raw:avg1m/points")).get_json()
    assert compacted["points"] == [[0, 2.0], [60000, 10.0]]
    latest = await client.get("/v1/series/raw:avg1m/points?latest=true")
    assert (await latest.get_json())["points"][-1] == [120000, 0.0]


async def test_list_and_delete_rules(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "raw"})
    for dest, agg in (("raw:max", "max"), ("raw:min", "min")):
        await client.post("/v1/series/raw/rules", json={"dest": dest, "agg": agg, "bucket": 1000})
    rules = (await (await client.get("/v1/series/raw/rules")).get_json())["rules"]
    assert [(r["dest"], r["aggregation"]) for r in rules] == [
        ("raw:max", "max"),
        ("raw:min", "min"),
    ]
    assert (await client.delete("/v1/series/raw/rules/raw:max")).status_code == 204
    rules = (await (await client.get("/v1/series/raw/rules")).get_json())["rules"]
    assert [r["dest"] for r in rules] == ["raw:min"]
    assert (await client.delete("/v1/series/raw/rules/raw:max")).status_code == 404
    assert (await client.get("/v1/series/raw:max")).status_code == 200  # dest keeps its data


async def test_rule_errors(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "a"})
    await client.post("/v1/series", json={"key": "b"})
    body = {"dest": "x", "agg": "avg", "bucket": "1m"}
    assert (await client.post("/v1/series/none/rules", json=body)).status_code == 404
    assert (await client.get("/v1/series/none/rules")).status_code == 404
    missing = {**body, "dest": "nowhere", "create_dest": False}
    refused = await client.post("/v1/series/a/rules", json=missing)
    assert refused.status_code == 409  # the series exists; the rule cannot be made
    assert "'nowhere' does not exist" in (await refused.get_json())["detail"]
    assert (await client.post("/v1/series/a/rules", json={**body, "dest": "a"})).status_code == 409
    assert (
        await client.post("/v1/series/a/rules", json={**body, "agg": "mean"})
    ).status_code == 422
    assert (await client.post("/v1/series/a/rules", json={**body, "bucket": 0})).status_code == 422
    ok = await client.post("/v1/series/a/rules", json={**body, "dest": "b"})
    assert ok.status_code == 201
    # b already has a source: a second rule into it conflicts
    await client.post("/v1/series", json={"key": "c"})
    again = await client.post("/v1/series/c/rules", json={**body, "dest": "b"})
    assert again.status_code == 409
    assert (await again.get_json())["title"] == "Compaction rule conflict"


async def test_rule_alignment_takes_a_timestamp_or_a_duration(client: QuartClient) -> None:
    await client.post("/v1/series", json={"key": "raw"})
    for align, align_ms in (("10m", 600_000), ("1970-01-01T00:05:00Z", 300_000), (7, 7)):
        dest = f"raw:{align_ms}"
        response = await client.post(
            "/v1/series/raw/rules",
            json={"dest": dest, "agg": "avg", "bucket": "1h", "align": align},
        )
        assert response.status_code == 201, await response.get_data(as_text=True)
        assert (await response.get_json())["align_ms"] == align_ms
