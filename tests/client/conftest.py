"""A live tsapi for the client, CLI and docs tests: the app served by Hypercorn on a free port
(a real process, over real HTTP) and a ``tsapi worker`` running in the background, both
pointed at the suite's Redis Stack, for the whole session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

BIN = Path(sys.executable).parent


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, within: float = 30) -> None:
    """Poll ``/readyz`` until the server answers 200 (or fail with its log)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the server did not become ready:\n{log.read_text()[-3000:]}")


def serve(redis_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``hypercorn 'api.app:create_app()'`` on a free port; its process and URL."""
    port = free_port()
    env = {**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hypercorn",
                "api.app:create_app()",
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
    except BaseException:
        stop(process)
        raise
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def live_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="session")
def api_url(redis_url: str, live_logs: Path) -> Iterator[str]:
    """The base URL of a real tsapi server for the whole session."""
    process, url = serve(redis_url, live_logs / "api.log")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def job_worker(redis_url: str, live_logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``tsapi worker`` running in the background while one test module runs (not longer:
    it would take the jobs of later modules, which run their own workers)."""
    env = {**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING"}
    with (live_logs / "worker.log").open("ab") as out:
        process = subprocess.Popen(
            [str(BIN / "tsapi"), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    yield process
    stop(process)
