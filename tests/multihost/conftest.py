"""A tsapi deployment over four hosts built from network namespaces on this machine.

redis (10.77.0.1) runs ``tsapi redis --bind 10.77.0.1 --password ...``; api (10.77.0.2) runs
``tsapi serve --host 10.77.0.2`` with an API key; worker (10.77.0.3) runs ``tsapi worker``;
client (10.77.0.4) only speaks HTTP to the API. Every process gets nothing but
``TSAPI_REDIS_URL`` (plus a short log level and config refresh interval). Tests skip, saying
why, only where namespaces cannot be created.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail_in_ci
from tests.multihost.netns import Host, NetnsUnavailable, Network, wait_until
from tsdb.embedded import server_paths

API_PORT = 5000
REDIS_PORT = 6379


@dataclass
class Deployment:
    """The four hosts and what the client needs to talk to the API."""

    redis: Host
    api: Host
    worker: Host
    client: Host
    password: str
    token: str
    env: dict[str, str]
    logs: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.api.address}:{API_PORT}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def tsapi(self, host: Host, *args: str) -> str:
        """Run a ``tsapi`` command on ``host``; return its stdout (fail on a non-zero exit)."""
        done = host.run([sys.executable, "-m", "tsapi", *args], env=self.env)
        assert done.returncode == 0, f"tsapi {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def redis_cli(self, host: Host, *args: str, password: bool = True) -> str:
        """Run ``redis-cli`` against the Redis host from ``host``."""
        cli = server_paths()[0].with_name("redis-cli")
        command = [str(cli), "-h", self.redis.address, "-p", str(REDIS_PORT)]
        if password:
            command += ["-a", self.password, "--no-auth-warning"]
        return host.run([*command, *args], timeout=10).stdout.strip()

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
            for log in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    try:
        net = Network(tmp_path_factory.mktemp("netns-logs"))
    except NetnsUnavailable as exc:
        skip_or_fail_in_ci(f"cannot build separate hosts with network namespaces: {exc}")
    try:
        yield net
    finally:
        net.close()


@pytest.fixture(scope="module")
def deployment(network: Network, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    redis_host = network.add_host("redis")
    api = network.add_host("api")
    worker = network.add_host("worker")
    client = network.add_host("client")
    password = secrets.token_hex(16)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "TSAPI_REDIS_URL": f"redis://:{password}@{redis_host.address}:{REDIS_PORT}/0",
        "TSAPI_LOG_LEVEL": "INFO",
        "TSAPI_CONFIG_REFRESH": "0.5",
    }
    data = tmp_path_factory.mktemp("redis-host")
    redis_args = ["redis", "--bind", redis_host.address, "--port", str(REDIS_PORT)]
    redis_host.start(
        "redis",
        [sys.executable, "-m", "tsapi", *redis_args, "--dir", str(data)],
        {**env, "TSAPI_REDIS_PASSWORD": password},
    )
    deployment = Deployment(redis_host, api, worker, client, password, "", env, network.logs)
    wait_until(lambda: deployment.redis_cli(api, "PING") == "PONG", "Redis from the API host")

    deployment.token = deployment.tsapi(
        api, "keys", "create", "--name", "multihost", "--scope", "admin"
    ).strip()
    api.start("serve", [sys.executable, "-m", "tsapi", "serve", "--host", api.address], env)
    worker.start("worker", [sys.executable, "-m", "tsapi", "worker"], env)

    def api_ready() -> bool:
        status, _ = client.http("GET", f"{deployment.base_url}/readyz")
        return status == 200

    try:
        wait_until(api_ready, "the API from the client host", within=60, every=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{deployment.log_tail()}") from None
    return deployment
