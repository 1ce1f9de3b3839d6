from quart.testing import QuartClient


async def test_healthz_answers_without_redis_work(client: QuartClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert (await response.get_json()) == {"status": "ok"}


async def test_readyz_reports_module_version(client: QuartClient) -> None:
    response = await client.get("/readyz")
    body = await response.get_json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert body["timeseries_version"] >= 11000


async def test_help_lists_every_route_with_a_description(client: QuartClient) -> None:
    response = await client.get("/help")
    text = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    for route in ("/v1/series", "/v1/series/<key>/points", "/v1/query", "/v1/latest", "/readyz"):
        assert route in text
    assert "Delete the samples between from and to" in text


async def test_openapi_describes_the_endpoints(client: QuartClient) -> None:
    response = await client.get("/openapi.json")
    spec = await response.get_json()
    assert response.status_code == 200
    assert "/v1/series/{key}/points" in spec["paths"]
    assert "post" in spec["paths"]["/v1/series"]
