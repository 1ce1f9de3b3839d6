"""Soak: ten minutes of mixed load at a fixed rate, with Redis restarted twice and a worker
killed (not in CI; ``python -m bench.soak [--minutes 10] [--rate 40]``).

Everything runs here, on loopback: an embedded Redis Stack (``appendfsync always``), ``tsapi
serve`` with two processes and default settings, and one ``tsapi worker``. The load, a fixed
number of requests per second whatever the answers take: single-point writes (40 %), bulk
writes of 200 points (15 %), range reads (20 %), label queries (20 %), analysis jobs (5 %).

Faults: Redis is stopped (SIGTERM) and started again at 25 % and 75 % of the run, and the
worker is killed (SIGKILL) at 50 % and replaced. Checked at the end, and written to
``bench/last-soak.json``:

- every acknowledged point (a 200 on a write) is read back;
- no 5xx outside the outage windows (a window lasts from the stop until the API answers
  again, plus 2 s);
- the API's memory (RSS of its processes) in the last minute within 10 % of the second;
- every job finished, or failed with a reason (a job the killed worker held is retried).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tsdb.embedded import EmbeddedRedis

HERE = Path(__file__).resolve().parent
SERIES = 20


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tally:
    """What the load saw."""

    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, set[int]] = field(default_factory=dict)
    errors_outside: list[str] = field(default_factory=list)
    outages: list[list[float]] = field(default_factory=list)  # [start, end] (monotonic)
    jobs: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    late: int = 0

    def in_outage(self, moment: float) -> bool:
        return any(start <= moment <= (end or float("inf")) + 2 for start, end in self.outages)


class Soak:
    def __init__(self, minutes: float, rate: float, workdir: Path) -> None:
        self.seconds = minutes * 60
        self.rate = rate
        self.workdir = workdir
        self.redis = EmbeddedRedis(
            port=free_port(), data_dir=workdir / "redis", appendfsync="always", log_to_file=True
        )
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.tally = Tally()
        self.memory: list[tuple[float, int]] = []
        self.clock = 0  # next timestamp per write (unique, increasing)
        self.started = 0.0

    # -- processes -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {**os.environ, "TSAPI_REDIS_URL": self.redis.url, "TSAPI_LOG_LEVEL": "WARNING"}

    def start(self) -> None:
        self.redis.start()
        log = (self.workdir / "api.log").open("wb")
        self.api = subprocess.Popen(
            [sys.executable, "-m", "tsapi", "serve", "--port", str(self.port), "--workers", "2"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.start_worker()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not come up")
            time.sleep(0.2)

    def start_worker(self) -> None:
        log = (self.workdir / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "tsapi", "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        for process in (self.api, self.worker):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.redis.stop()

    def api_rss(self) -> int:
        """Bytes of memory of the API's processes (uvicorn and its workers)."""
        assert self.api is not None
        pids = [self.api.pid]
        children = Path(f"/proc/{self.api.pid}/task/{self.api.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            status = Path(f"/proc/{pid}/status")
            if status.exists():
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    # -- load ------------------------------------------------------------------------------

    def next_t(self) -> int:
        self.clock += 1
        return 1_700_000_000_000 + self.clock

    async def one(self, http: httpx.AsyncClient) -> None:
        roll = random.random()
        key = f"soak:{random.randrange(SERIES)}"
        sent = time.monotonic()
        points: list[tuple[str, int]] = []
        if roll < 0.40:
            t = self.next_t()
            points = [(key, t)]
            response = await http.post(f"/v1/series/{key}/points", json={"t": t, "v": 1.0})
        elif roll < 0.55:
            rows = []
            for _ in range(200):
                k, t = f"soak:{random.randrange(SERIES)}", self.next_t()
                rows.append({"key": k, "t": t, "v": 2.0})
                points.append((k, t))
            response = await http.post("/v1/points", json=rows)
        elif roll < 0.75:
            response = await http.get(f"/v1/series/{key}/points", params={"count": 500})
        elif roll < 0.95:
            if roll < 0.85:
                response = await http.get("/v1/labels")
            else:
                params = {"filter": "soak=yes", "agg": "count", "bucket": "1m", "count": 5}
                response = await http.get("/v1/query", params=params)
        else:
            body = {"type": "stats", "params": {"keys": [key]}}
            response = await http.post("/v1/jobs", json=body)
            if response.status_code == 202:
                self.tally.jobs.append(response.json()["id"])
        self.tally.latencies.append(time.monotonic() - sent)
        status = response.status_code
        self.tally.statuses[str(status)] += 1
        if status == 200 and points:
            for k, t in points:
                self.tally.acknowledged.setdefault(k, set()).add(t)
        if status >= 500 and not self.tally.in_outage(sent):
            self.tally.errors_outside.append(f"{sent - self.started:.1f}s {status}")

    async def safe_one(self, http: httpx.AsyncClient) -> None:
        try:
            await self.one(http)
        except httpx.TransportError as exc:
            moment = time.monotonic()
            self.tally.statuses[type(exc).__name__] += 1
            if not self.tally.in_outage(moment):
                self.tally.errors_outside.append(f"{moment - self.started:.1f}s {exc!r}")

    async def load(self) -> None:
        interval = 1 / self.rate
        tasks: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) as http:
            tick = time.monotonic()
            while time.monotonic() - self.started < self.seconds:
                task = asyncio.create_task(self.safe_one(http))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                tick += interval
                delay = tick - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    self.tally.late += 1
            await asyncio.gather(*tasks)

    async def faults(self) -> None:
        plan = [
            (0.25, self.restart_redis),
            (0.50, self.kill_worker),
            (0.75, self.restart_redis),
        ]
        for fraction, action in plan:
            await asyncio.sleep(max(0.0, self.started + fraction * self.seconds - time.monotonic()))
            await action()

    async def restart_redis(self) -> None:
        window = [time.monotonic(), 0.0]
        self.tally.outages.append(window)
        await asyncio.to_thread(self.redis.stop)
        await asyncio.sleep(5)
        await asyncio.to_thread(self.redis.start)
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as http:
            while True:
                try:
                    if (await http.get("/v1/series?limit=1")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        window[1] = time.monotonic()

    async def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()
        await asyncio.sleep(2)
        self.start_worker()

    async def sample_memory(self) -> None:
        while time.monotonic() - self.started < self.seconds:
            self.memory.append((time.monotonic() - self.started, self.api_rss()))
            await asyncio.sleep(5)

    async def run(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
            for i in range(SERIES):
                labels = {"soak": "yes", "n": str(i)}
                await http.post("/v1/series", json={"key": f"soak:{i}", "labels": labels})
        self.started = time.monotonic()
        await asyncio.gather(self.load(), self.faults(), self.sample_memory())
        return await self.check()

    async def check(self) -> dict[str, Any]:
        lost = 0
        acknowledged = sum(len(ts) for ts in self.tally.acknowledged.values())
        async with httpx.AsyncClient(base_url=self.base, timeout=120) as http:
            for key, times in self.tally.acknowledged.items():
                stored = {
                    int(t) for t, _ in (await http.get(f"/v1/series/{key}/points")).json()["points"]
                }
                lost += len(times - stored)
            deadline = time.monotonic() + 180
            unended: list[str] = []
            failed_without_reason: list[str] = []
            outcomes: Counter[str] = Counter()
            for job_id in self.tally.jobs:
                while True:
                    job = (await http.get(f"/v1/jobs/{job_id}")).json()
                    if (
                        job["status"] in ("finished", "failed", "canceled")
                        or time.monotonic() > deadline
                    ):
                        break
                    await asyncio.sleep(0.5)
                outcomes[job["status"]] += 1
                if job["status"] not in ("finished", "failed", "canceled"):
                    unended.append(job_id)
                elif job["status"] == "failed" and not job.get("error"):
                    failed_without_reason.append(job_id)
        second = [rss for at, rss in self.memory if 60 <= at < 120]
        last = [rss for at, rss in self.memory if at >= self.seconds - 60]
        early = sum(second) / len(second) if second else 0
        late = sum(last) / len(last) if last else 0
        latencies = sorted(self.tally.latencies)
        return {
            "minutes": self.seconds / 60,
            "rate_per_s": self.rate,
            "requests": sum(self.tally.statuses.values()),
            "statuses": dict(sorted(self.tally.statuses.items())),
            "late_sends": self.tally.late,
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
            "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
            "outages_s": [round(end - start, 1) for start, end in self.tally.outages],
            "errors_outside_outages": self.tally.errors_outside[:20],
            "acknowledged_points": acknowledged,
            "lost_points": lost,
            "jobs": dict(outcomes),
            "jobs_not_ended": unended,
            "jobs_failed_without_reason": failed_without_reason,
            "api_rss_mib_second_minute": round(early / 2**20, 1),
            "api_rss_mib_last_minute": round(late / 2**20, 1),
            "api_rss_change": round(late / early - 1, 3) if early else None,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tsapi-soak-") as tmp:
        soak = Soak(args.minutes, args.rate, Path(tmp))
        soak.start()
        try:
            figures = asyncio.run(soak.run())
        finally:
            soak.stop()
    ok = (
        figures["lost_points"] == 0
        and not figures["errors_outside_outages"]
        and not figures["jobs_not_ended"]
        and not figures["jobs_failed_without_reason"]
        and (figures["api_rss_change"] is None or abs(figures["api_rss_change"]) <= 0.10)
    )
    figures["passed"] = ok
    (HERE / "last-soak.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
