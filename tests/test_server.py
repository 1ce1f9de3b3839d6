"""The real thing: `tsapi serve` on a free port, driven over HTTP with httpx."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import free_port, stop_process
from tsdb.embedded import EmbeddedRedis, server_paths


def start_api(redis_url: str, port: int, *, keep_output: bool = False) -> subprocess.Popen[bytes]:
    """`tsapi serve` as a real process. Its output goes to a pipe only when the caller reads
    it (``keep_output``, for a process expected to exit): a server writing a warning per
    failed request into a pipe nobody drains would block once the pipe is full."""
    env = {**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING"}
    output = subprocess.PIPE if keep_output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "tsapi", "serve", "--port", str(port)],
        env=env,
        stdout=output,
        stderr=output,
    )


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the API did not come up")


@pytest.fixture
def api_server(redis_url: str) -> Iterator[str]:
    port = free_port()
    process = start_api(redis_url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield base
    finally:
        stop_process(process)


def test_crud_over_real_http(api_server: str) -> None:
    with httpx.Client(base_url=api_server, timeout=10) as http:
        created = http.post("/v1/series", json={"key": "smoke", "labels": {"env": "ci"}})
        assert created.status_code == 201
        points = [{"t": t, "v": t * 0.5} for t in range(1, 1001)]
        assert http.post("/v1/series/smoke/points", json=points).json()["written"] == 1000
        read = http.get("/v1/series/smoke/points", params={"agg": "count", "bucket": "1s"})
        assert read.json()["points"] == [[0, 999.0], [1000, 1.0]]
        latest = http.get("/v1/latest", params={"filter": "env=ci"}).json()
        assert latest["series"][0]["v"] == 500.0
        missing = http.get("/v1/series/none")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert http.get("/readyz").json()["status"] == "ready"


def test_serve_refuses_to_start_without_redis() -> None:
    process = start_api(f"redis://127.0.0.1:{free_port()}/0", free_port(), keep_output=True)
    _, err = process.communicate(timeout=30)
    assert process.returncode != 0
    message = err.decode().strip().splitlines()[-1]
    assert message.startswith("Error: cannot start: Redis is unreachable")


def test_serve_refuses_a_redis_without_the_module(tmp_path: Path) -> None:
    server_bin, _ = server_paths()
    port = free_port()
    plain = subprocess.Popen(
        [str(server_bin), "--port", str(port), "--dir", str(tmp_path), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        process = start_api(f"redis://127.0.0.1:{port}/0", free_port(), keep_output=True)
        _, err = process.communicate(timeout=30)
        assert process.returncode != 0
        assert "TimeSeries module is not loaded" in err.decode()
    finally:
        plain.terminate()
        plain.wait()


def test_api_answers_503_while_redis_is_down_and_recovers(tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(port=free_port(), data_dir=tmp_path, log_to_file=True)
    redis_server.start()
    port = free_port()
    process = start_api(redis_server.url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        with httpx.Client(base_url=base, timeout=15) as http:
            assert http.post("/v1/series", json={"key": "k"}).status_code == 201
            assert http.post("/v1/series/k/points", json={"t": 1, "v": 1}).status_code == 200
            redis_server.stop()
            started = time.monotonic()
            down = http.get("/v1/series/k/points")
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            assert down.headers["retry-after"] == "1"
            assert time.monotonic() - started < 10
            assert http.get("/readyz").status_code == 503
            assert http.get("/healthz").status_code == 200
            redis_server.start()  # same port and data dir: the AOF brings the data back
            back_by = time.monotonic() + 5  # the API checks every TSAPI_REDIS_PROBE_INTERVAL
            while (back := http.get("/v1/series/k/points")).status_code == 503:
                assert time.monotonic() < back_by, "the API did not recover by itself"
                time.sleep(0.1)
            assert back.status_code == 200
            assert back.json()["points"] == [[1, 1.0]]
    finally:
        stop_process(process)
        redis_server.stop()


def _established(pid: int, port: int) -> int:
    """Connections to ``port`` that process ``pid`` holds open (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
            count += 1
    return count


@pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(),
    reason="Linux only (tsapi's servers and CI run on Linux): the test finds which server "
    "process holds each HTTP connection through /proc (a process' children, its sockets, "
    "/proc/net/tcp), which macOS and BSD do not have",
)
def test_server_processes_share_connections_opened_at_once(redis_url: str) -> None:
    port = free_port()
    env = {**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tsapi", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, timeout=40)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        servers = [int(c) for c in children]  # the server processes (and multiprocessing's own)
        clients = [httpx.Client(base_url=base, timeout=10) for _ in range(32)]
        try:
            for client in clients:  # 32 keep-alive connections, opened one right after another
                assert client.get("/healthz").status_code == 200
            held = [_established(pid, port) for pid in servers]
        finally:
            for client in clients:
                client.close()
        busiest = sorted(held)[-2:]
        assert sum(held) == 32 and min(busiest) >= 4, held  # both processes took some
    finally:
        stop_process(process)
