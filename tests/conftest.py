"""Fixtures shared by the whole suite: a real Redis Stack started on a free port, the app,
its test client, and a direct store for data-layer tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from quart import Quart
from quart.testing import QuartClient

from api.app import create_app
from core.settings import Settings
from tsdb.connection import connect
from tsdb.embedded import EmbeddedRedis
from tsdb.store import TimeSeriesStore

# Servers the tests start run one process unless a test asks for more (the default, 2, is
# for a machine that serves; here it would only double every server's start-up).
os.environ.setdefault("TSAPI_SERVER_WORKERS", "1")


def skip_or_fail_in_ci(reason: str) -> None:
    """Skip a test whose tool is missing here, but fail in CI, which installs every tool
    (infra/provision.sh): there a missing browser or namespace support is a broken setup."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: see infra/provision.sh)")
    pytest.skip(reason)


def stop_process(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """Terminate a server process, killing it if it takes longer than ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_redis(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[EmbeddedRedis]:
    """An embedded Redis Stack on a free port, its data in a fresh ``name`` directory."""
    server = EmbeddedRedis(
        port=free_port(), data_dir=tmp_path_factory.mktemp(name), log_to_file=True
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """The embedded Redis Stack with the TimeSeries module, for the whole session."""
    with embedded_redis(tmp_path_factory, "redis") as server:
        yield server


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
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def settings(redis_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    return Settings(
        redis_url=redis_url, embedded_redis_dir=tmp_path / "unused", **settings_overrides
    )


@pytest.fixture
def worker_env(redis_url: str) -> dict[str, str]:
    """Environment of a worker process pointed at the test Redis."""
    return {**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING"}


@pytest.fixture
def run_worker(worker_env: dict[str, str]) -> Callable[..., None]:
    """Run `tsapi worker --burst` as a real process until the queue is empty."""

    def run(**env: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "tsapi", "worker", "--burst"],
            env={**worker_env, **env},
            capture_output=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]

    return run


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """The app, serving (its Redis connection open) for the length of one test."""
    application = create_app(settings)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()


@asynccontextmanager
async def prepared_store(url: str) -> AsyncIterator[TimeSeriesStore]:
    """A :class:`TimeSeriesStore` on the Redis (or cluster) at ``url``, prepared."""
    client = connect(url)
    try:
        data = TimeSeriesStore(client)
        await data.prepare()
        yield data
    finally:
        await client.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[TimeSeriesStore]:
    """Direct access to the data layer, for tests of tsdb/."""
    async with prepared_store(redis_url) as data:
        yield data
