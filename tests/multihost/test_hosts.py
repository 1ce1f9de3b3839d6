"""tsapi across four hosts (network namespaces): Redis, API, worker and client apart."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.multihost.conftest import Deployment
from tests.multihost.netns import wait_until

pytestmark = pytest.mark.slow


def call(deployment: Deployment, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    status, body = deployment.client.http(
        method, f"{deployment.base_url}{path}", headers=deployment.auth, **kwargs
    )
    try:
        return status, orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return status, body


def wait_for_job(deployment: Deployment, job_id: str, statuses: set[str]) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status, document = call(deployment, "GET", f"/v1/jobs/{job_id}")
        assert status == 200, document
        return document if document["status"] in statuses else None

    try:
        return wait_until(reached, f"job {job_id} to reach {statuses}", within=60, every=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{deployment.log_tail()}") from None


def test_redis_host_refuses_clients_without_the_password(deployment: Deployment) -> None:
    reply = deployment.redis_cli(deployment.api, "PING", password=False)
    assert "NOAUTH" in reply
    assert deployment.redis_cli(deployment.api, "PING") == "PONG"


def test_the_api_host_refuses_requests_without_a_key(deployment: Deployment) -> None:
    status, _ = deployment.client.http("GET", f"{deployment.base_url}/v1/series")
    assert status == 401


def test_data_written_through_the_api_is_read_back_by_the_client(deployment: Deployment) -> None:
    status, created = call(
        deployment, "POST", "/v1/series", json={"key": "temp:lab", "labels": {"site": "lab"}}
    )
    assert status == 201, created
    points = [[1_700_000_000_000 + i * 1000, 20 + i / 10] for i in range(600)]
    status, written = call(deployment, "POST", "/v1/series/temp:lab/points", json=points)
    assert (status, written) == (200, {"written": 600, "created": False})

    status, read = call(deployment, "GET", "/v1/series/temp:lab/points")
    assert status == 200
    assert read["points"] == points
    status, latest = call(deployment, "GET", "/v1/latest?filter=site=lab")
    assert latest["series"][0]["v"] == points[-1][1]


def test_a_plot_job_submitted_to_the_api_runs_on_the_worker_host(deployment: Deployment) -> None:
    call(deployment, "POST", "/v1/series", json={"key": "load:lab", "labels": {"site": "lab"}})
    points = [[i * 1000, i % 17] for i in range(300)]
    call(deployment, "POST", "/v1/series/load:lab/points", json=points)
    status, submitted = call(
        deployment,
        "POST",
        "/v1/jobs",
        json={"type": "plot", "params": {"keys": ["load:lab"], "formats": ["html"]}},
    )
    assert status == 202, submitted

    done = wait_for_job(deployment, submitted["id"], {"finished", "failed"})
    assert done["status"] == "finished", done
    address = deployment.redis_cli(
        deployment.redis, "HGET", f"rq:worker:{done['worker']}", "ip_address"
    )
    assert address.startswith(f"{deployment.worker.address}:"), address
    status, page = call(deployment, "GET", f"/v1/jobs/{submitted['id']}/files/plot.html")
    assert status == 200
    assert b"load:lab" in page


def test_config_set_on_one_host_reaches_the_api_and_the_worker(deployment: Deployment) -> None:
    deployment.tsapi(deployment.redis, "config", "set", "max_body_bytes", "2048")
    deployment.tsapi(deployment.redis, "config", "set", "worker_heartbeat", "2")
    shown = deployment.tsapi(deployment.worker, "config", "show")
    assert any(
        line.split()[:3] == ["worker_heartbeat", "redis", "2"] for line in shown.splitlines()
    )

    big = [[i, 1.0] for i in range(400)]  # about 4 KB of JSON
    call(deployment, "POST", "/v1/series", json={"key": "big"})

    def refused() -> bool:
        status, _ = call(deployment, "POST", "/v1/series/big/points", json=big)
        return status == 413

    wait_until(refused, "the API to apply max_body_bytes", within=15, every=0.2)

    status, submitted = call(
        deployment,
        "POST",
        "/v1/jobs",
        json={"type": "noop", "params": {"seconds": 3, "steps": 6}},
    )
    assert status == 202, submitted
    wait_for_job(deployment, submitted["id"], {"started"})
    listed = deployment.redis_cli(
        deployment.redis, "ZRANGE", "rq:wip:tsapi", "0", "-1", "WITHSCORES"
    ).split()
    expiries = [float(score) for score in listed[1::2]]
    assert expiries, listed
    # the worker registered the job with 3 heartbeats of 2 s (30 s with its default of 10)
    assert max(expiries) - time.time() <= 7, listed
    assert wait_for_job(deployment, submitted["id"], {"finished"})["status"] == "finished"

    deployment.tsapi(deployment.redis, "config", "unset", "max_body_bytes")
    wait_until(lambda: not refused(), "the API to drop the shared limit", within=15, every=0.2)
