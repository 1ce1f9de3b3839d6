"""The Python client against a real server: 429 and 503 retried as Retry-After asks (within
bounds), 504 not retried, and a typed exception for each status."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tsapi_client import Client, Forbidden, RateLimited, ServerTimeout, Unauthorized, Unavailable
from tsapi_client._base import RETRIED_STATUSES
from tsapi_client.errors import api_error

from api.security.access import KEYS_CHECK_SECONDS
from api.security.keys import KeyStore
from tests.conftest import free_port, stop_process
from tests.reliability.conftest import start_serve
from tsdb.connection import connect
from tsdb.embedded import EmbeddedRedis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(port=free_port(), data_dir=tmp_path / "redis", log_to_file=True)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def _serve(redis_url: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    return start_serve(redis_url, **env)


def test_429_waits_what_retry_after_asks_then_raises_rate_limited(own_redis: EmbeddedRedis) -> None:
    process, base = _serve(own_redis.url, TSAPI_RATE_LIMIT="1", TSAPI_RATE_BURST="1")
    try:
        with Client(base, retries=2) as api:
            api.list_series()
            started = time.monotonic()
            api.list_series()  # 429, Retry-After: 1, then served
            assert time.monotonic() - started >= 0.9
        with Client(base, retries=0) as api:
            with pytest.raises(RateLimited) as caught:
                for _ in range(3):
                    api.list_series()
            assert caught.value.status == 429 and caught.value.retry_after == 1.0
        with Client(base, retries=3, max_wait=0.5) as api:  # asks for more than it may wait
            started = time.monotonic()
            with pytest.raises(RateLimited):
                for _ in range(3):
                    api.list_series()
            assert time.monotonic() - started < 0.9
    finally:
        stop_process(process)


def test_503_is_retried_after_retry_after_and_504_is_not(own_redis: EmbeddedRedis) -> None:
    process, base = _serve(own_redis.url, TSAPI_REDIS_TIMEOUT="1")
    try:
        with Client(base, retries=1) as api:
            api.create_series("k")
            os.kill(own_redis.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
            with pytest.raises((ServerTimeout, Unavailable)):
                api.get_series("k")  # Redis frozen: the first call waits out the timeout
            started = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                api.get_series("k")  # known down now: 503 at once, retried once after 1 s
            assert 0.9 <= time.monotonic() - started < 5
            assert caught.value.status == 503
            os.kill(own_redis.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
            deadline = time.monotonic() + 5
            while True:
                try:
                    assert api.get_series("k").key == "k"
                    break
                except Unavailable:
                    assert time.monotonic() < deadline
    finally:
        stop_process(process)


def test_504_is_a_server_timeout_and_is_not_retried() -> None:
    problem = {"type": "tag:tsapi,2026:problem:store-timeout", "title": "t", "status": 504}
    assert isinstance(api_error(504, problem), ServerTimeout)
    assert 504 not in RETRIED_STATUSES


async def _key(redis_url: str, *scopes: str) -> str:
    client = connect(redis_url)
    try:
        return (await KeyStore(client).create("t", scopes)).token
    finally:
        await client.aclose()


def test_401_and_403_raise_unauthorized_and_forbidden(own_redis: EmbeddedRedis) -> None:
    reader = asyncio.run(_key(own_redis.url, "read"))
    process, base = _serve(own_redis.url)
    try:
        time.sleep(KEYS_CHECK_SECONDS)
        with Client(base, api_key="") as anonymous, pytest.raises(Unauthorized):
            anonymous.list_series()
        with Client(base, api_key=reader) as api:
            assert api.list_series() == []
            with pytest.raises(Forbidden) as caught:
                api.create_series("nope")
            assert caught.value.status == 403
    finally:
        stop_process(process)
