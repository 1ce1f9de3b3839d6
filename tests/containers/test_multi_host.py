"""infra/compose/multi-host/ as three compose projects, one per host: Redis, the API and a
worker, each on a podman network of its own. They are joined only by what OPERATOR.md has
operators configure: Redis published on the host's address with a password, and
REDIS_HOST / REDIS_PORT / REDIS_PASSWORD on the API and worker hosts."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.conftest import free_port, skip_or_fail_in_ci
from tests.containers.conftest import (
    COMPOSE_DIR,
    Api,
    Compose,
    Images,
    container_logs,
    podman,
    project_name,
    wait_until,
)
from tests.containers.test_one_vm import PNG_MAGIC, create_key

pytestmark = [pytest.mark.containers, pytest.mark.slow]

MULTI_HOST = COMPOSE_DIR / "multi-host"


@dataclass
class Hosts:
    redis: Compose
    api: Compose
    worker: Compose
    address: str
    port: int
    password: str
    client: Api


def host_address() -> str:
    """This machine's first global IPv4 address: what the other hosts would dial."""
    done = subprocess.run(
        ["ip", "-4", "-json", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=False,
    )
    for link in json.loads(done.stdout or "[]"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet" and not link["ifname"].startswith(("podman", "veth")):
                return str(info["local"])
    skip_or_fail_in_ci("this machine has no global IPv4 address to publish Redis on")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def hosts(images: Images) -> Iterator[Hosts]:
    address, port, api_port = host_address(), free_port(), free_port()
    password = secrets.token_hex(16)
    joined = {"REDIS_HOST": address, "REDIS_PORT": str(port), "REDIS_PASSWORD": password}
    redis_host = Compose(
        MULTI_HOST / "redis.yml",
        project_name("redis"),
        {**images.env(), "REDIS_PASSWORD": password, "REDIS_PUBLISH": f"{address}:{port}"},
    )
    api_host = Compose(
        MULTI_HOST / "api.yml",
        project_name("api"),
        {**images.env(), **joined, "API_PUBLISH": f"127.0.0.1:{api_port}"},
    )
    worker_host = Compose(
        MULTI_HOST / "worker.yml", project_name("worker"), {**images.env(), **joined}
    )
    projects = (redis_host, api_host, worker_host)
    try:
        redis_host("up", "-d")
        token = create_key(api_host)
        api_host("up", "-d")
        worker_host("up", "-d")
        client = Api(f"http://127.0.0.1:{api_port}", token)
        client.wait_ready(logs=lambda: "\n".join(p.logs() for p in projects))
        yield Hosts(redis_host, api_host, worker_host, address, port, password, client)
        client.close()
    finally:
        for project in reversed(projects):
            project.down()


def test_each_host_is_on_its_own_network(hosts: Hosts) -> None:
    networks = set()
    for project in (hosts.redis, hosts.api, hosts.worker):
        (container,) = project.containers()
        names = podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", container)
        networks.add(tuple(sorted(json.loads(names))))
    assert len(networks) == 3, networks
    (api,) = hosts.api.containers()
    lookup = ["python", "-c", "import socket; socket.gethostbyname('redis')"]
    assert subprocess.run(["podman", "exec", api, *lookup], capture_output=True).returncode != 0


def test_redis_is_published_with_a_password(hosts: Hosts) -> None:
    anonymous = redis.Redis(hosts.address, hosts.port, socket_timeout=5)
    with anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with redis.Redis(hosts.address, hosts.port, password=hosts.password) as client:
        modules = {m[b"name"] for m in client.execute_command("MODULE", "LIST")}
    assert b"timeseries" in modules


def test_points_written_on_the_api_host_are_read_back(hosts: Hosts) -> None:
    api = hosts.client
    assert api.call("POST", "/v1/series", json={"key": "temp:hosts"}).status_code == 201
    points = [[1_700_000_000_000 + i * 1000, float(i)] for i in range(1500)]
    assert api.call("POST", "/v1/series/temp:hosts/points", json=points).status_code == 200
    assert api.call("GET", "/v1/series/temp:hosts/points").json()["points"] == points


def test_a_png_job_runs_on_the_worker_host(hosts: Hosts) -> None:
    api = hosts.client
    api.call("POST", "/v1/series", json={"key": "load:hosts"})
    api.call("POST", "/v1/series/load:hosts/points", json=[[i * 1000, i % 11] for i in range(400)])
    submitted = api.call(
        "POST",
        "/v1/jobs",
        json={"type": "plot", "params": {"keys": ["load:hosts"], "formats": ["png"]}},
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    job = api.wait_for_job(job_id)
    assert job["status"] == "finished", job
    assert api.call("GET", f"/v1/jobs/{job_id}/files/plot.png").content.startswith(PNG_MAGIC)
    (worker,) = hosts.worker.containers()
    wait_until(
        lambda: job_id in container_logs(worker), "the worker host's log of the job", within=30
    )
