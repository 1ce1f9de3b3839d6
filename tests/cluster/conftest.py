"""A local 3-shard Redis Cluster with the TimeSeries module, and the app pointed at it.

The job queue stays on the suite's plain Redis (``TSAPI_QUEUE_URL``): RQ cannot use a
cluster. Every test starts from empty shards.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from core.settings import Settings
from tsdb.connection import connect
from tsdb.embedded import EmbeddedCluster
from tsdb.store import TimeSeriesStore

SHARDS = 3


def free_port_range(count: int) -> int:
    """A first port such that it, the next ``count - 1`` and their bus ports (+10000) are free."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count + 10_000 > 65_535:
            continue
        ports = [first + i for i in range(count)] + [first + i + 10_000 for i in range(count)]
        if all(_is_free(port) for port in ports):
            return first
    raise RuntimeError("no free range of ports for a cluster")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    """Three primaries, no replicas, the hash slots split evenly."""
    server = EmbeddedCluster(
        shards=SHARDS,
        port=free_port_range(SHARDS),
        data_dir=tmp_path_factory.mktemp("cluster"),
        log_to_file=True,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster_url(cluster: EmbeddedCluster) -> Iterator[str]:
    """The cluster's URL; its shards are emptied first."""
    for node in cluster.nodes:
        with redis.Redis.from_url(node.url) as client:
            client.flushall()
    yield cluster.url


@pytest.fixture
def shard_clients(cluster: EmbeddedCluster) -> Iterator[list[redis.Redis]]:
    """A plain client per shard, to see where keys landed."""
    clients = [redis.Redis.from_url(node.url, decode_responses=True) for node in cluster.nodes]
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def settings(
    cluster_url: str, redis_url: str, tmp_path: Path, settings_overrides: dict[str, Any]
) -> Settings:
    """The app's settings: data on the cluster, the job queue on the plain Redis."""
    return Settings(
        redis_url=cluster_url,
        queue_url=redis_url,
        embedded_redis_dir=tmp_path / "unused",
        **settings_overrides,
    )


@pytest.fixture
def worker_env(cluster_url: str, redis_url: str) -> dict[str, str]:
    """A worker reading series from the cluster and jobs from the plain Redis."""
    return {
        **os.environ,
        "TSAPI_REDIS_URL": cluster_url,
        "TSAPI_QUEUE_URL": redis_url,
        "TSAPI_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
async def store(cluster_url: str) -> AsyncIterator[TimeSeriesStore]:
    """The data layer on the cluster."""
    client = connect(cluster_url)
    yield TimeSeriesStore(client)
    await client.aclose()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Shared settings are re-read often, so that tests of them are quick."""
    return {"config_refresh": 0.1}
