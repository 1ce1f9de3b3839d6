"""A real `tsapi serve` on its own Redis Stack holding the PromQL test data set (written
through its ``/api/v1/write``), beside the real Prometheus of tests/promql holding the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from promql import Series
from promql.remote_write import encode_write_request
from tests.conftest import embedded_redis, stop_process
from tests.promql.conftest import REMOTE_WRITE_HEADERS, PrometheusServer, dataset, prometheus
from tests.promql.data import time_batches
from tests.reliability.conftest import start_serve
from tsdb.embedded import EmbeddedRedis

__all__ = ["REMOTE_WRITE_HEADERS", "TsapiServer", "dataset", "prometheus"]


@dataclass
class TsapiServer(PrometheusServer):
    """A running `tsapi serve` (asked as a Prometheus is) and its Redis URL."""

    redis_url: str


@pytest.fixture(scope="session")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A Redis Stack of this package's own (the suite's is flushed before each test)."""
    with embedded_redis(tmp_path_factory, "prom-redis") as server:
        yield server


@pytest.fixture(scope="session")
def tsapi(own_redis: EmbeddedRedis, dataset: list[Series]) -> Iterator[TsapiServer]:
    """`tsapi serve` with the data set remote-written into it, as into Prometheus."""
    process, base = start_serve(own_redis.url)
    client = httpx.Client(timeout=60)
    try:
        for batch in time_batches(dataset):
            response = client.post(
                f"{base}/api/v1/write",
                content=encode_write_request(batch),
                headers=REMOTE_WRITE_HEADERS,
            )
            assert response.status_code == 204, response.text
        yield TsapiServer(base, client, own_redis.url)
    finally:
        client.close()
        stop_process(process)


@pytest.fixture(scope="session")
def prom(prometheus: PrometheusServer) -> PrometheusServer:
    """The real Prometheus holding the same data."""
    return prometheus
