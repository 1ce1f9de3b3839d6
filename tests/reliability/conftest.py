"""A live `tsapi serve` (uvicorn, real sockets) for the fault, fuzz and load tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import free_port
from tests.test_server import wait_healthy


@dataclass(frozen=True)
class LiveApi:
    base: str
    redis_url: str


def start_serve(redis_url: str, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """`tsapi serve` on a free loopback port; returns the process and its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tsapi", "serve", "--port", str(port), *args],
        env={
            **os.environ,
            "TSAPI_REDIS_URL": redis_url,
            "TSAPI_LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=subprocess.DEVNULL,
        # not a pipe: nobody drains it, and a server logging a warning per refused request
        # (Redis down) would block on a full pipe
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
    except BaseException:
        process.kill()
        raise
    return process, base


@pytest.fixture(scope="module")
def live_api(redis_url: str) -> Iterator[LiveApi]:
    """Two uvicorn worker processes on the suite's Redis, for a whole module."""
    process, base = start_serve(redis_url, "--workers", "2")
    try:
        yield LiveApi(base, redis_url)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine: do not fail on a slow exit
            process.kill()
            process.wait()
