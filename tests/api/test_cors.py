"""CORS: off by default; with TSAPI_CORS_ORIGINS, preflights are answered before any key check
and every answer to an allowed origin carries the headers a browser needs."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from api.app import create_app
from core.settings import Settings

PAGE = "https://grafana.example:3000"
PREFLIGHT = {
    "Origin": PAGE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_no_cors_headers_by_default(client: QuartClient) -> None:
    response = await client.get("/v1/series", headers={"Origin": PAGE})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.fixture
async def cors_client(settings: Settings) -> Any:
    app: Quart = create_app(settings.model_copy(update={"cors_origins": [PAGE]}))
    async with app.test_app():
        yield app.test_client()


async def test_a_preflight_from_an_allowed_origin_needs_no_key(
    cors_client: QuartClient, redis_url: str
) -> None:
    import redis

    redis.Redis.from_url(redis_url).sadd("tsapi:keys", "0123456789ab")  # keys now required
    response = await cors_client.options("/v1/series", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    refused = await cors_client.get("/v1/series", headers={"Origin": PAGE})
    assert refused.status_code == 401  # errors carry the headers too, so pages can read them
    assert refused.headers["Access-Control-Allow-Origin"] == PAGE
    assert "WWW-Authenticate" in refused.headers["Access-Control-Expose-Headers"]


async def test_other_origins_get_no_cors_headers_and_their_preflight_is_refused(
    cors_client: QuartClient,
) -> None:
    other = {**PREFLIGHT, "Origin": "https://evil.example"}
    response = await cors_client.options("/v1/series", headers=other)
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    plain = await cors_client.get("/v1/series", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_origins_come_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSAPI_CORS_ORIGINS", "https://a.example, http://b.example:8080/")
    from core.settings import load_settings

    assert load_settings().cors_origins == ["https://a.example", "http://b.example:8080"]
