"""A worker killed (SIGKILL) in the middle of a backfill: the job is retried, picks up from
the filled part, and the tiers end up exactly what the raw data gives."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import numpy as np
import pytest
from quart.testing import QuartClient

from tests.workers.helpers import wait_status
from tests.workers.test_worker_faults import background_worker
from tsdb.rollups.config import read_states
from tsdb.store import TimeSeriesStore

SAMPLES = 3_000_000  # one per second for 35 days: about fifteen backfill steps per tier
TIERS = {"tiers": [{"bucket": "1m"}, {"bucket": "1h"}]}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_retries": 1, "result_ttl": 60}


async def test_a_backfill_killed_midway_is_retried_and_finishes_exact(
    client: QuartClient, store: TimeSeriesStore, worker_env: dict[str, str]
) -> None:
    t = np.arange(SAMPLES, dtype=np.int64) * 1000
    v = np.sin(np.arange(SAMPLES) / 5000.0) * 100 + (np.arange(SAMPLES) % 7)
    await store.write_series("long", t, v, create=True)
    env = {**worker_env, "TSAPI_WORKER_HEARTBEAT": "1"}
    with background_worker(env) as first:
        put = await client.put("/v1/series/long/rollups", json=TIERS)
        assert put.status_code == 200, await put.get_data(as_text=True)
        job_id = (await put.get_json())["backfill_job"]
        deadline = time.monotonic() + 120
        while True:  # kill it once part of the finest tier is filled, not all of it
            state = await read_states(store.client, "long")
            assert state is not None
            if state.states[0].hi is not None:
                break
            assert state.pending and time.monotonic() < deadline, "the backfill never started"
            await asyncio.sleep(0.005)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    partial = await read_states(store.client, "long")
    assert partial is not None and partial.pending, "the backfill ended before the kill"
    filled_at_kill = partial.states[0].hi
    assert filled_at_kill is not None and 0 < filled_at_kill < SAMPLES * 1000
    # three missed one-second heartbeats: the API's registry cleanup puts the job back
    requeued = await wait_status(client, job_id, {"queued", "failed", "finished"}, within=30)
    assert requeued["status"] == "queued", requeued
    with background_worker(env):
        done = await wait_status(client, job_id, {"finished", "failed"}, within=120)
    assert done["status"] == "finished", done
    assert done["attempts"] == 2
    filled = await read_states(store.client, "long")
    assert filled is not None and not filled.pending
    assert filled.states[0].hi is not None and filled.states[0].hi >= filled_at_kill
    for agg in ("sum", "max", "std.s", "first", "count"):
        query = f"/v1/series/long/points?agg={agg}&bucket=6h"
        tiered = await (await client.get(query)).get_json()
        raw = await (await client.get(query + "&tier=raw")).get_json()
        assert tiered["tiers"][0] == "1h" and raw["tiers"] == ["raw"]
        assert [p[0] for p in tiered["points"]] == [p[0] for p in raw["points"]]
        for (_, a), (_, b) in zip(tiered["points"], raw["points"], strict=True):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9), agg
