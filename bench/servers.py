"""The processes under test: an embedded Redis Stack and ``tsapi serve``, on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tsdb.embedded import EmbeddedRedis, server_paths

__all__ = [
    "ApiServerError",
    "api_command",
    "free_port",
    "redis_cli_path",
    "running_api",
    "running_redis",
]


class ApiServerError(RuntimeError):
    """``tsapi serve`` did not come up."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_cli_path() -> Path:
    """The ``redis-cli`` bundled next to the embedded ``redis-server``."""
    return server_paths()[0].with_name("redis-cli")


@contextmanager
def running_redis(data_dir: Path) -> Iterator[EmbeddedRedis]:
    """An embedded Redis Stack (default persistence: AOF everysec) on a free port."""
    server = EmbeddedRedis(port=free_port(), data_dir=data_dir, log_to_file=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def api_command(port: int) -> list[str]:
    """The ``tsapi serve`` command line of this interpreter's environment."""
    script = Path(sys.executable).with_name("tsapi")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "api"]
    return [*head, "serve", "--port", str(port)]


def _api_env(redis_url: str) -> dict[str, str]:
    """The environment without the caller's ``TSAPI_*`` settings, so runs are comparable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSAPI_")}
    env.update(TSAPI_REDIS_URL=redis_url, TSAPI_LOG_LEVEL="WARNING")
    return env


@contextmanager
def running_api(redis_url: str, log_path: Path, timeout: float = 30.0) -> Iterator[str]:
    """``tsapi serve`` on a free port, once ``/healthz`` answers; yields its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            api_command(port),
            env=_api_env(redis_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops it in order
        )
    try:
        _wait_healthy(base_url, process, log_path, timeout)
        yield base_url
    finally:
        _stop(process)


def _wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> None:
    """Poll ``/healthz`` until it answers 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ApiServerError(f"tsapi serve exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise ApiServerError(f"tsapi serve did not answer /healthz within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (uvicorn shuts down gracefully), SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
