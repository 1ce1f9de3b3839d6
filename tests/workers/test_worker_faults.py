"""Workers running in the background: cancel a running job, survive a kill -9, expiry."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from quart.testing import QuartClient

from tests.workers.helpers import job, submit, wait_status


@contextmanager
def background_worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tsapi", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_retries": 0}


async def test_cancel_a_running_job(client: QuartClient, worker_env: dict[str, str]) -> None:
    with background_worker(worker_env):
        submitted = await submit(client, "noop", seconds=30, steps=300)
        await wait_status(client, submitted["id"], {"started"})
        response = await client.post(f"/v1/jobs/{submitted['id']}/cancel")
        assert response.status_code == 202
        assert (await response.get_json())["cancel_requested"] is True
        document = await wait_status(client, submitted["id"], {"canceled", "failed"}, within=10)
    assert document["status"] == "canceled"
    assert document["error"].startswith("canceled on request")
    assert document["progress"]["percent"] < 50


async def test_a_running_job_without_steps_stops_within_a_second_of_its_cancel(
    client: QuartClient, worker_env: dict[str, str]
) -> None:
    with background_worker(worker_env):
        submitted = await submit(client, "noop", seconds=20)  # one long sleep, no progress
        await wait_status(client, submitted["id"], {"started"})
        for _ in range(200):  # until it is in its sleep
            if (await job(client, submitted["id"]))["progress"]["message"] == "step 1 of 1":
                break
            await asyncio.sleep(0.05)
        asked = time.monotonic()
        response = await client.post(f"/v1/jobs/{submitted['id']}/cancel")
        assert response.status_code == 202
        document = await wait_status(client, submitted["id"], {"canceled", "failed"}, within=10)
        stopped = time.monotonic() - asked
        assert document["status"] == "canceled"
        assert document["error"] == "canceled on request while running"
        assert stopped < 5  # within a second on a quiet machine; this one may be busy
        after = await submit(client, "noop")  # the worker carries on with fresh connections
        assert (await wait_status(client, after["id"], {"finished", "failed"}))["status"] == (
            "finished"
        )


async def test_a_killed_workers_job_fails_with_a_clear_reason(
    client: QuartClient, worker_env: dict[str, str]
) -> None:
    env = {**worker_env, "TSAPI_WORKER_HEARTBEAT": "1"}
    with background_worker(env) as worker:
        submitted = await submit(client, "noop", seconds=60, steps=60)
        await wait_status(client, submitted["id"], {"started"})
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        # three missed one-second heartbeats, then the API's registry cleanup fails the job
        document = await wait_status(client, submitted["id"], {"failed", "queued"}, within=30)
    assert document["status"] == "failed"
    assert "worker running this job stopped" in document["error"]
    assert document["ended_at"] is not None
