"""While Redis is down the API logs the first refused request, then one summary line per
TSAPI_OUTAGE_LOG_INTERVAL with a count, and a line when Redis is back: not a line per
request."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port, stop_process
from tests.test_server import wait_healthy
from tsdb.embedded import EmbeddedRedis


def test_an_outage_logs_a_first_line_then_one_summary_per_interval(tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(port=free_port(), data_dir=tmp_path / "redis", log_to_file=True)
    redis_server.start()
    log = tmp_path / "api.log"
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tsapi", "serve", "--port", str(port)],
            env={
                **os.environ,
                "TSAPI_REDIS_URL": redis_server.url,
                "TSAPI_LOG_LEVEL": "WARNING",
                "TSAPI_OUTAGE_LOG_INTERVAL": "1",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        with httpx.Client(base_url=base, timeout=15) as http:
            assert http.get("/v1/series").status_code == 200
            redis_server.stop()
            started = time.monotonic()
            refused = 0
            while time.monotonic() - started < 2.5:
                refused += http.get("/v1/series").status_code == 503
                time.sleep(0.02)
            redis_server.start()
            deadline = time.monotonic() + 5
            while http.get("/v1/series").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        time.sleep(0.2)
    finally:
        stop_process(process)
        redis_server.stop()
    lines = [line for line in log.read_text().splitlines() if "api.outage" in line]
    assert refused > 40
    assert "refusing GET /v1/series" in lines[0]
    summaries = [line for line in lines if "still unavailable" in line]
    assert 1 <= len(summaries) <= 3, lines  # 2.5 s at one line per second, at most
    assert ("available again" in lines[-1] and f"{refused}" in lines[-1]) or len(lines) <= 5
    assert len(lines) <= 5, lines
