"""The processes under test: an embedded Redis Stack and ``tsapi serve``, on free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from rq import Worker

from tsdb.embedded import EmbeddedRedis, server_paths

__all__ = [
    "ApiServer",
    "ApiServerError",
    "WorkerError",
    "api_command",
    "free_port",
    "redis_cli_path",
    "running_api",
    "running_redis",
    "running_workers",
    "worker_command",
]


class ApiServerError(RuntimeError):
    """``tsapi serve`` did not come up."""


class WorkerError(RuntimeError):
    """``tsapi worker`` did not come up, or died."""


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


def _tsapi() -> list[str]:
    """How to run the ``tsapi`` CLI of this interpreter's environment."""
    script = Path(sys.executable).with_name("tsapi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tsapi"]


def api_command(port: int, workers: int = 1) -> list[str]:
    """The ``tsapi serve`` command line of this interpreter's environment."""
    return [*_tsapi(), "serve", "--port", str(port), "--workers", str(workers)]


def worker_command() -> list[str]:
    """The ``tsapi worker`` command line of this interpreter's environment."""
    return [*_tsapi(), "worker"]


def _api_env(redis_url: str) -> dict[str, str]:
    """The environment without the caller's ``TSAPI_*`` settings, so runs are comparable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSAPI_")}
    env.update(TSAPI_REDIS_URL=redis_url, TSAPI_LOG_LEVEL="WARNING")
    return env


@dataclass(frozen=True)
class ApiServer:
    """A running ``tsapi serve``."""

    url: str
    pid: int


@contextmanager
def running_api(
    redis_url: str, log_path: Path, timeout: float = 30.0, workers: int = 1
) -> Iterator[ApiServer]:
    """``tsapi serve`` (``workers`` server processes) on a free port, once ``/healthz`` answers.

    With one worker uvicorn serves in the ``tsapi serve`` process itself (``pid``); with
    more, that process supervises one child process per worker.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            api_command(port, workers),
            env=_api_env(redis_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops it in order
        )
    try:
        _wait_healthy(base_url, process, log_path, timeout)
        yield ApiServer(base_url, process.pid)
    finally:
        _stop(process, group=workers > 1)  # uvicorn's server processes go with it


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


@contextmanager
def running_workers(
    redis_url: str, count: int, log_dir: Path, name: str = "worker", timeout: float = 30.0
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``tsapi worker`` processes, once each has registered with RQ.

    They get the API's environment (``TSAPI_REDIS_URL``, log level WARNING). On the way
    out each gets SIGTERM (RQ's warm shutdown, which also stops its Chromium), then its
    process group SIGKILL after 15 s.
    """
    processes: list[subprocess.Popen[bytes]] = []
    logs = [log_dir / f"{name}-{i}.log" for i in range(1, count + 1)]
    try:
        for log_path in logs:
            with log_path.open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        worker_command(),
                        env=_api_env(redis_url),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_registered(redis_url, processes, logs, timeout)
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            _stop(process, group=True)


def _wait_registered(
    redis_url: str, processes: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float
) -> None:
    """Wait until RQ lists a worker for every process (matched by pid)."""
    pids = {p.pid for p in processes}
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for process, log_path in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise WorkerError(f"tsapi worker exited with {process.returncode}:\n{tail}")
            if pids <= {w.pid for w in Worker.all(connection=client)}:
                return
            time.sleep(0.05)
    finally:
        client.close()
    raise WorkerError(f"tsapi worker did not register with RQ within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0, group: bool = False) -> None:
    """SIGTERM (uvicorn and RQ shut down gracefully), SIGKILL after ``timeout``.

    With ``group``, the SIGKILL goes to the process's whole group (its own session), so
    a worker's Chromium does not outlive it.
    """
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
