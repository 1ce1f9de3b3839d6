"""A job whose worker died is retried on another worker when it has attempts left."""

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from quart.testing import QuartClient

from tests.workers.helpers import job, submit, wait_status
from tests.workers.test_worker_faults import background_worker


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_retries": 1, "result_ttl": 15}  # long enough to see it finished on a busy machine


async def test_a_killed_workers_job_is_retried_and_finishes(
    client: QuartClient, worker_env: dict[str, str]
) -> None:
    env = {**worker_env, "TSAPI_WORKER_HEARTBEAT": "1"}
    with background_worker(env) as first:
        submitted = await submit(client, "noop", seconds=4, steps=40)
        await wait_status(client, submitted["id"], {"started"})
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        requeued = await wait_status(client, submitted["id"], {"queued", "failed"}, within=30)
        assert requeued["status"] == "queued"
    with background_worker(env):
        done = await wait_status(client, submitted["id"], {"finished", "failed"}, within=60)
    assert done["status"] == "finished", done
    assert done["attempts"] == 2


async def test_results_and_files_expire(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    submitted = await submit(client, "noop")
    run_worker()
    assert (await job(client, submitted["id"]))["status"] == "finished"
    gone = await wait_status_gone(client, submitted["id"], within=45)
    assert gone.status_code == 404
    assert (await client.get(f"/v1/jobs/{submitted['id']}/result")).status_code == 404


async def wait_status_gone(client: QuartClient, job_id: str, within: float) -> Any:
    import asyncio
    import time

    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/v1/jobs/{job_id}")
        if response.status_code == 404 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)
