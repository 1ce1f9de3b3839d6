"""infra/compose/one-vm.yml under podman-compose: Redis Stack, the API and workers on one VM,
set up as OPERATOR.md says (`up -d`, then `run --rm api tsapi keys create`)."""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import free_port
from tests.containers.conftest import (
    COMPOSE_DIR,
    Api,
    Compose,
    Images,
    leftovers,
    podman,
    project_name,
    wait_until,
)

pytestmark = [pytest.mark.containers, pytest.mark.slow]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T0 = 1_700_000_000_000


@dataclass
class OneVm:
    compose: Compose
    api: Api


def create_key(compose: Compose) -> str:
    """`run --rm api tsapi keys create` (retried while Redis is still starting): the token."""

    def create() -> str | None:
        out = compose(
            "run", "--rm", "api", "tsapi", "keys", "create", "--name", "admin", "--scope",
            "admin", check=False,
        )  # fmt: skip
        lines = out.strip().splitlines()
        return lines[-1].strip() if lines and len(lines[-1].strip()) >= 20 else None

    token: str = wait_until(create, "`tsapi keys create` in an api container", within=120, every=2)
    return token


@pytest.fixture(scope="module")
def one_vm(images: Images) -> Iterator[OneVm]:
    port = free_port()
    compose = Compose(
        COMPOSE_DIR / "one-vm.yml",
        project_name("onevm"),
        {
            **images.env(),
            "API_PUBLISH": f"127.0.0.1:{port}",
            # every acknowledged write is on disk before the answer (see the kill test)
            "REDIS_APPENDFSYNC": "always",
            "TSAPI_SERVER_WORKERS": "1",
        },
    )
    try:
        compose("up", "-d")
        api = Api(f"http://127.0.0.1:{port}", create_key(compose))
        api.wait_ready(logs=compose.logs)
        yield OneVm(compose, api)
        api.close()
    finally:
        compose.down()


def write_series(api: Api, key: str, points: list[list[float]]) -> None:
    created = api.call("POST", "/v1/series", json={"key": key, "labels": {"test": "onevm"}})
    assert created.status_code == 201, created.text
    written = api.call("POST", f"/v1/series/{key}/points", json=points)
    assert written.status_code == 200, written.text
    assert written.json()["written"] == len(points)


def wave(n: int, period: float, step_ms: int = 1000) -> list[list[float]]:
    return [[T0 + i * step_ms, round(20 + 5 * math.sin(i / period), 6)] for i in range(n)]


def test_the_api_container_passes_its_healthcheck_as_a_non_root_user(one_vm: OneVm) -> None:
    (api,) = one_vm.compose.containers("api")
    podman("healthcheck", "run", api)  # exits non-zero when unhealthy
    assert podman("exec", api, "id", "-u").strip() == "10001"
    assert podman("exec", api, "tsapi", "--version").startswith("tsapi, version")


def test_refuses_requests_without_the_key(one_vm: OneVm) -> None:
    anonymous = Api(one_vm.api.base_url)
    assert anonymous.call("GET", "/v1/series").status_code == 401
    anonymous.close()


def test_points_written_over_http_are_read_back(one_vm: OneVm) -> None:
    points = wave(2000, 30)
    write_series(one_vm.api, "temp:onevm", points)
    read = one_vm.api.call("GET", "/v1/series/temp:onevm/points")
    assert read.status_code == 200
    assert read.json()["points"] == points


def test_a_plot_job_renders_a_png_in_a_worker_container(one_vm: OneVm) -> None:
    write_series(one_vm.api, "load:onevm", wave(600, 17))
    submitted = one_vm.api.call(
        "POST",
        "/v1/jobs",
        json={"type": "plot", "params": {"keys": ["load:onevm"], "formats": ["html", "png"]}},
    )
    assert submitted.status_code == 202, submitted.text
    job = one_vm.api.wait_for_job(submitted.json()["id"])
    assert job["status"] == "finished", job
    png = one_vm.api.call("GET", f"/v1/jobs/{job['id']}/files/plot.png")
    assert png.status_code == 200
    assert png.content.startswith(PNG_MAGIC) and len(png.content) > 10_000


def test_every_job_type_is_checked_by_the_api_and_run_by_a_worker(one_vm: OneVm) -> None:
    """The API image lacks the workers' numerics (scipy, statsmodels, pandas), yet validates
    the params of every job type; the worker image runs those that need them."""
    api = one_vm.api
    names = {t["name"] for t in api.call("GET", "/v1/job-types").json()["types"]}
    assert {"plot", "stats", "anomaly", "correlate", "forecast", "export"} <= names, names
    for name in sorted(names):
        refused = api.call("POST", "/v1/jobs", json={"type": name, "params": {"bogus": 1}})
        assert refused.status_code == 422, (name, refused.text)

    write_series(api, "a:onevm", wave(3600, 40))
    write_series(api, "b:onevm", wave(3600, 55))
    jobs = {
        "correlate": {"keys": ["a:onevm", "b:onevm"], "formats": ["html"]},
        "anomaly": {"keys": ["a:onevm"], "formats": ["html"]},
        "forecast": {"keys": ["a:onevm"], "bucket": "1m", "horizon": 10, "formats": ["html"]},
        "stats": {"keys": ["a:onevm", "b:onevm"]},
        "export": {"keys": ["a:onevm"]},
    }
    ids = {}
    for name, params in jobs.items():
        submitted = api.call("POST", "/v1/jobs", json={"type": name, "params": params})
        assert submitted.status_code == 202, (name, submitted.text)
        ids[name] = submitted.json()["id"]
    for name, job_id in ids.items():
        job = api.wait_for_job(job_id)
        assert job["status"] == "finished", (name, job)


def test_workers_scale_to_three(one_vm: OneVm) -> None:
    one_vm.compose("up", "-d", "--scale", "worker=3")
    wait_until(lambda: len(one_vm.compose.containers("worker")) == 3, "three worker containers")

    def registered() -> bool:
        metrics = one_vm.api.call("GET", "/metrics").text
        return "tsapi_workers 3.0" in metrics

    wait_until(registered, "three workers registered on the queue (tsapi_workers)", within=90)


def test_every_acknowledged_point_survives_redis_killed(one_vm: OneVm) -> None:
    """Redis runs with appendfsync always here: a write is on disk (the volume) before it is
    acknowledged, so SIGKILL loses none. (The default, everysec, may lose the last second.)
    Redis's process is killed as a crash would kill it; the restart policy brings it back."""
    api = one_vm.api
    api.call("POST", "/v1/series", json={"key": "durable:onevm"})
    acknowledged: list[list[float]] = []
    for batch in range(20):
        points = [[T0 + batch * 100 + i, float(batch * 100 + i)] for i in range(100)]
        answer = api.call("POST", "/v1/series/durable:onevm/points", json=points)
        assert answer.status_code == 200, answer.text
        acknowledged += points
    (redis,) = one_vm.compose.containers("redis")
    state = "{{.State.Pid}} {{.RestartCount}}"
    pid, restarts = podman("inspect", "--format", state, redis).split()
    os.kill(int(pid), signal.SIGKILL)

    def restarted() -> bool:
        now_pid, now_restarts = podman("inspect", "--format", state, redis).split()
        return now_pid not in ("0", pid) and int(now_restarts) > int(restarts)

    wait_until(restarted, "the restart policy to start Redis again", within=60)
    api.wait_ready(within=120, logs=one_vm.compose.logs)
    read = api.call("GET", "/v1/series/durable:onevm/points")
    assert read.status_code == 200, read.text
    assert read.json()["points"] == acknowledged


def test_down_v_leaves_no_container_network_or_volume(one_vm: OneVm) -> None:
    project = one_vm.compose.project
    assert leftovers(project)["volumes"], "the Redis volume should exist before `down -v`"
    # podman-compose's `down` knows only the replicas of the file: give it the count that
    # --scale set (docker compose's `down` finds them by itself).
    one_vm.compose.env["WORKER_REPLICAS"] = "3"
    one_vm.compose("down", "-v", "-t", "5")
    assert leftovers(project) == {"containers": [], "pods": [], "networks": [], "volumes": []}
