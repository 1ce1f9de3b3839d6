"""backfill: the job that fills new tiers from the history, with progress, and that resumes
where a stopped one left off."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit
from tsdb.rollups.config import read_states
from tsdb.rollups.maintain import advance
from tsdb.rollups.manage import backfill
from tsdb.store import TimeSeriesStore

TIERS = {"tiers": [{"bucket": "1m"}, {"bucket": "10m", "retention": "1d"}]}
POINTS = [[t * 1000, float(t % 97)] for t in range(20_000)]


async def test_tiers_put_on_a_series_with_history_are_filled_by_a_job(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "hist", POINTS)
    put = await (await client.put("/v1/series/hist/rollups", json=TIERS)).get_json()
    job_id = put["backfill_job"]
    queued = await job(client, job_id)
    assert queued["type"] == "backfill" and queued["params"] == {"keys": ["hist"]}
    run_worker()
    done = await job(client, job_id)
    assert done["status"] == "finished" and done["progress"]["percent"] == 100
    result = await (await client.get(f"/v1/jobs/{job_id}/result")).get_json()
    assert result["series"][0]["tiers"] == ["1m", "10m"]
    shown = await (await client.get("/v1/series/hist/rollups")).get_json()
    assert shown["pending"] is False
    assert [t["covers"] for t in shown["tiers"]] == [
        {"from": 0, "to": 19_979_999},  # up to the open minute
        {"from": 0, "to": 19_799_999},
    ]
    tiered = await (await client.get("/v1/series/hist/points?agg=max&bucket=10m")).get_json()
    raw = await (await client.get("/v1/series/hist/points?agg=max&bucket=10m&tier=raw")).get_json()
    assert tiered["tiers"] == ["10m", "1m", "raw"] and tiered["points"] == raw["points"]


async def test_a_stopped_backfill_resumes_where_it_was(
    client: QuartClient, store: TimeSeriesStore, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "hist", POINTS)
    put = await (await client.put("/v1/series/hist/rollups", json=TIERS)).get_json()
    state = await read_states(store.client, "hist")
    assert state is not None and state.pending
    steps = []

    def die(step: object) -> None:  # as if the worker were killed after three steps
        steps.append(step)
        if len(steps) == 3:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):  # small steps: one sample per ms, as dense as can be
        await advance(store.client, "hist", state.rollups, density=1.0, force=True, on_step=die)
    partial = await read_states(store.client, "hist")
    assert partial is not None and partial.pending
    # three steps of 100 s, at least a bucket each: 3 minutes, 3 times 10 minutes
    assert [s.hi for s in partial.states] == [180_000, 1_800_000]
    mid = await (await client.get("/v1/series/hist/points?agg=sum&bucket=10m")).get_json()
    assert mid["tiers"] == ["10m", "raw"]  # what is filled serves already
    run_worker()  # the job queued by PUT picks up from there
    assert (await job(client, put["backfill_job"]))["status"] == "finished"
    filled = await read_states(store.client, "hist")
    assert filled is not None and not filled.pending
    assert [s.hi for s in filled.states] == [19_980_000, 19_800_000]
    for agg in ("sum", "min", "std.s", "last"):
        query = f"/v1/series/hist/points?agg={agg}&bucket=20m"
        tiered = await (await client.get(query)).get_json()
        raw = await (await client.get(query + "&tier=raw")).get_json()
        assert tiered["tiers"][0] == "10m"
        assert [p[0] for p in tiered["points"]] == [p[0] for p in raw["points"]]
        for (_, a), (_, b) in zip(tiered["points"], raw["points"], strict=True):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9)


async def test_plot_stats_and_export_jobs_read_tiers(
    client: QuartClient, store: TimeSeriesStore, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "hist", POINTS)
    await client.put("/v1/series/hist/rollups", json=TIERS)
    await backfill(store, "hist")
    plot = await submit(client, "plot", keys=["hist"], formats=["html"], width=200)
    stats = await submit(client, "stats", keys=["hist"], percentiles=[])
    export = await submit(client, "export", keys=["hist"], agg="avg", bucket="10m")
    run_worker()
    result = await (await client.get(f"/v1/jobs/{plot['id']}/result")).get_json()
    assert result["series"][0]["tiers"][0] == "1m" and result["bucket_ms"] % 60_000 == 0
    moments = (await (await client.get(f"/v1/jobs/{stats['id']}/result")).get_json())["series"][0]
    assert moments["count"] == 20_000 and moments["max"] == 96.0
    assert moments["sum"] == sum(p[1] for p in POINTS)
    done = await job(client, export["id"])
    data = await (await client.get(done["files"][0]["url"])).get_data()
    rows = [line.split(",") for line in data.decode().splitlines()[1:]]
    raw = await (await client.get("/v1/series/hist/points?agg=avg&bucket=10m&tier=raw")).get_json()
    assert [int(t) for _, t, _ in rows] == [p[0] for p in raw["points"]]
    for (_, _, v), (_, want) in zip(rows, raw["points"], strict=True):
        assert float(v) == pytest.approx(want, rel=1e-12)
