"""A real Prometheus scrapes a target (tsapi's own /metrics) and remote-writes to tsapi;
the scraped series are then queryable through tsapi's PromQL API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, stop_process
from tests.promql.conftest import prometheus_binary, scraping_prometheus
from tests.reliability.conftest import start_serve
from tsdb.embedded import EmbeddedRedis

SCRAPE_SECONDS = 20


@pytest.mark.slow
def test_prometheus_scrapes_and_remote_writes_to_tsapi(tmp_path: Path) -> None:
    prometheus_binary()
    redis = EmbeddedRedis(port=free_port(), data_dir=tmp_path / "redis", log_to_file=True)
    redis.start()
    api, base = start_serve(redis.url)
    target = base.removeprefix("http://")
    write_url = f"{base}/api/v1/write"
    try:
        with scraping_prometheus(
            tmp_path, "tsapi", target, write_url, 2000, free_port()
        ) as prometheus:
            time.sleep(SCRAPE_SECONDS)
            assert prometheus.poll() is None, "prometheus exited"
            with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as http:
                up = http.get("/query", params={"query": 'up{job="tsapi"}'}).json()
                assert up["status"] == "success", up
                (sample,) = up["data"]["result"]
                assert sample["metric"] == {"__name__": "up", "job": "tsapi", "instance": target}
                assert sample["value"][1] == "1"
                now = time.time()
                scraped = http.get(
                    "/query_range",
                    params={
                        "query": 'count_over_time(up{job="tsapi"}[1m])',
                        "start": str(now - 5),
                        "end": str(now),
                        "step": "5",
                    },
                ).json()
                counts = [float(v) for _, v in scraped["data"]["result"][0]["values"]]
                assert max(counts) >= SCRAPE_SECONDS // 2  # about one sample a second arrived
                names = http.get("/label/__name__/values", params={"match[]": '{job="tsapi"}'})
                assert {"up", "scrape_duration_seconds"} <= set(names.json()["data"])
                assert len(names.json()["data"]) > 10  # tsapi's own metrics came through
    finally:
        stop_process(api)
        redis.stop()
