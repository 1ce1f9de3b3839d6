"""A real Prometheus (Debian's 2.42 package) holding the test data set, and the engine over
the same data in memory: the two the corpus compares."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from promql import Engine, MemorySource, Series
from promql.remote_write import encode_write_request
from tests.conftest import free_port, skip_or_fail_in_ci, stop_process
from tests.promql.data import generate, time_batches

LOOKBACK = "5m"
REMOTE_WRITE_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def prometheus_binary() -> str:
    """The path of Debian's ``prometheus`` (skips here, fails in CI, when it is missing)."""
    binary = shutil.which("prometheus")
    if binary is None:
        skip_or_fail_in_ci("the prometheus binary is missing (infra/provision.sh installs it)")
    assert binary is not None
    return binary


@contextmanager
def scraping_prometheus(
    root: Path, job: str, target: str, write_url: str, max_samples: int, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Prometheus on ``port`` scraping ``target`` every second as ``job`` and
    remote-writing what it scrapes to ``write_url``; stopped on leaving."""
    config = root / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        "remote_write:\n"
        f"  - url: {write_url}\n"
        f"    queue_config: {{batch_send_deadline: 1s, max_samples_per_send: {max_samples}}}\n"
    )
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        stop_process(process)


@dataclass
class PrometheusServer:
    """A running Prometheus and an HTTP client for its API."""

    url: str
    client: httpx.Client

    def query(self, path: str, **params: str) -> dict:
        """GET ``/api/v1/<path>``, the parsed JSON envelope (errors included)."""
        return self.client.get(f"{self.url}/api/v1/{path}", params=params).json()


@pytest.fixture(scope="session")
def dataset() -> list[Series]:
    return generate()


@pytest.fixture(scope="session")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, dataset: list[Series]
) -> Iterator[PrometheusServer]:
    """Prometheus on a free loopback port, no scrape jobs, the data set remote-written."""
    binary = prometheus_binary()
    root: Path = tmp_path_factory.mktemp("prometheus")
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n")
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            f"--query.lookback-delta={LOOKBACK}",
            "--enable-feature=promql-negative-offset",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(timeout=60)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited: {(root / 'prometheus.log').read_text()[-2000:]}"
                )
            try:
                if client.get(f"{url}/-/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready in 60 s")
            time.sleep(0.1)
        for batch in time_batches(dataset):
            response = client.post(
                f"{url}/api/v1/write",
                content=encode_write_request(batch),
                headers=REMOTE_WRITE_HEADERS,
            )
            assert response.status_code == 204, response.text
        yield PrometheusServer(url, client)
    finally:
        client.close()
        stop_process(process)
        log.close()


@pytest.fixture(scope="session")
def engine(dataset: list[Series]) -> Engine:
    """The engine over the same data, in memory."""
    return Engine(MemorySource(dataset))
