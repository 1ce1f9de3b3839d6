"""Fixtures shared by the whole suite: a real Redis Stack started on a free port, the app,
its test client, and a direct store for data-layer tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from quart import Quart
from quart.testing import QuartClient

from api.app import create_app
from api.settings import Settings
from tsdb.connection import connect
from tsdb.embedded import EmbeddedRedis
from tsdb.store import TimeSeriesStore


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """The embedded Redis Stack with the TimeSeries module, for the whole session."""
    server = EmbeddedRedis(
        port=free_port(), data_dir=tmp_path_factory.mktemp("redis"), log_to_file=True
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture(autouse=True)
def _clean_redis(request: pytest.FixtureRequest) -> None:
    """Each test that uses Redis starts from an empty database."""
    if "redis_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("redis_url")
    with redis.Redis.from_url(url) as client:
        client.flushall()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, embedded_redis_dir=tmp_path / "unused")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """The app, serving (its Redis connection open) for the length of one test."""
    application = create_app(settings)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[TimeSeriesStore]:
    """Direct access to the data layer, for tests of tsdb/."""
    client = connect(redis_url)
    yield TimeSeriesStore(client)
    await client.aclose()
