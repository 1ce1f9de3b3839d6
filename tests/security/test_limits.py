"""Rate limits per key and per client address, the request deadline, and /metrics."""

from __future__ import annotations

import time

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from quart.testing import QuartClient

from tests.security.conftest import MakeKey, bearer

LIMITED = {"rate_limit": 2.0, "rate_burst": 3}


@pytest.mark.parametrize("settings_overrides", [LIMITED])
async def test_a_key_over_its_rate_gets_429_with_retry_after(
    client: QuartClient, make_key: MakeKey
) -> None:
    first = bearer((await make_key("read")).token)
    second = bearer((await make_key("read")).token)
    statuses = [(await client.get("/v1/series", headers=first)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = await client.get("/v1/series", headers=first)
    assert limited.status_code == 429
    assert limited.headers["Content-Type"] == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.get_json())["type"] == "tag:tsapi,2026:problem:rate-limited"
    # each key has its own bucket, and health checks are never limited
    assert (await client.get("/v1/series", headers=second)).status_code == 200
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{**LIMITED, "insecure": True}])
async def test_without_keys_each_client_address_has_its_own_bucket(client: QuartClient) -> None:
    one = {"client": ("198.51.100.1", 1)}
    two = {"client": ("198.51.100.2", 1)}
    statuses = [(await client.get("/v1/series", scope_base=one)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert (await client.get("/v1/series", scope_base=two)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"request_timeout": 0.5}])
async def test_a_handler_stuck_past_the_deadline_gets_504(
    client: QuartClient, redis_url: str
) -> None:
    assert (await client.post("/v1/series", json={"key": "k"})).status_code == 201
    with redis.Redis.from_url(redis_url) as raw:
        raw.execute_command("CLIENT", "PAUSE", "1500", "WRITE")  # Redis stalls writes
        started = time.monotonic()
        stuck = await client.post("/v1/series/k/points", json={"t": 1, "v": 1})
        elapsed = time.monotonic() - started
        raw.execute_command("CLIENT", "UNPAUSE")
    assert stuck.status_code == 504
    assert (await stuck.get_json())["type"] == "tag:tsapi,2026:problem:request-timeout"
    assert elapsed < 1.4
    assert (await client.post("/v1/series/k/points", json={"t": 2, "v": 2})).status_code == 200


async def test_metrics_count_requests_refusals_and_jobs(
    client: QuartClient, make_key: MakeKey
) -> None:
    token = bearer((await make_key("read", "write")).token)
    await client.get("/v1/series/missing", headers=token)
    await client.get("/v1/series")  # no key: 401
    job = await client.post(
        "/v1/jobs", json={"type": "noop", "params": {"seconds": 0}}, headers=token
    )
    assert job.status_code == 202
    assert (await client.get("/metrics")).status_code == 401
    response = await client.get("/metrics", headers=token)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = (await response.get_data()).decode()
    assert (
        'tsapi_http_requests_total{method="GET",route="/v1/series/<key>",status="404"} 1.0' in text
    )
    assert 'tsapi_http_requests_total{method="POST",route="/v1/jobs",status="202"} 1.0' in text
    assert 'tsapi_http_requests_refused_total{status="401"} 2.0' in text
    bucket = 'le="0.5",method="GET",route="/v1/series/<key>"'
    assert f"tsapi_http_request_duration_seconds_bucket{{{bucket}}} 1.0" in text
    figures = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    # the one job is queued, or started/finished if some worker of the session took it
    where = [("tsapi_queue_length", ())] + [
        ("tsapi_jobs", (("state", s),)) for s in ("started", "finished", "failed", "canceled")
    ]
    assert sum(figures[w] for w in where) == 1
    assert figures[("tsapi_workers", ())] >= 0
    assert figures[("process_resident_memory_bytes", ())] > 0
