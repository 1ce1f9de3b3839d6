"""downsample and stats, checked against numpy over the same points."""

import csv
import io
from collections.abc import Callable

import numpy as np
import pytest
from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit

RNG = np.random.default_rng(7)


@pytest.fixture
async def noisy(client: QuartClient) -> tuple[np.ndarray, np.ndarray]:
    ts = np.arange(0, 3_600_000, 1000)  # one hour of per-second samples
    vs = np.round(RNG.normal(20, 5, len(ts)), 3)
    await add_series(
        client, "noisy", [[int(t), float(v)] for t, v in zip(ts, vs, strict=True)], kind="noise"
    )
    return ts, vs


async def result_of(client: QuartClient, job_id: str) -> dict:
    document = await job(client, job_id)
    assert document["status"] == "finished", document
    return await (await client.get(f"/v1/jobs/{job_id}/result")).get_json()


async def test_downsample_writes_a_new_series_with_labels(
    client: QuartClient, run_worker: Callable[..., None], noisy: tuple
) -> None:
    ts, vs = noisy
    submitted = await submit(client, "downsample", source="noisy", agg="max", bucket="5m")
    assert submitted["params"]["dest"] == "noisy:max:5m"
    assert submitted["params"]["bucket"] == 300_000
    run_worker()
    result = await result_of(client, submitted["id"])
    assert result == {
        "source": "noisy",
        "dest": "noisy:max:5m",
        "aggregation": "max",
        "bucket_ms": 300_000,
        "points_read": 3600,
        "points_written": 12,
        "rule_installed": False,
    }
    info = await (await client.get("/v1/series/noisy:max:5m")).get_json()
    assert info["labels"] == {"source": "noisy", "aggregation": "max", "bucket_ms": "300000"}
    points = (await (await client.get("/v1/series/noisy:max:5m/points")).get_json())["points"]
    expected = [
        [int(b), float(vs[(ts // 300_000) == b // 300_000].max())]
        for b in range(0, 3_600_000, 300_000)
    ]
    assert points == expected


async def test_downsample_rule_mode_backfills_then_keeps_compacting(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "raw", [[t, 1.0] for t in range(0, 10_000, 100)])
    submitted = await submit(
        client,
        "downsample",
        source="raw",
        dest="raw:count",
        agg="count",
        bucket=1000,
        mode="rule",
        dest_labels={"res": "1s"},
    )
    run_worker()
    result = await result_of(client, submitted["id"])
    assert result["rule_installed"] is True
    assert result["points_written"] == 10
    rules = (await (await client.get("/v1/series/raw/rules")).get_json())["rules"]
    assert rules == [
        {"dest": "raw:count", "aggregation": "count", "bucket_ms": 1000, "align_ms": 0}
    ]
    await client.post("/v1/series/raw/points", json=[[10_000, 1], [10_500, 1], [11_000, 1]])
    points = (await (await client.get("/v1/series/raw:count/points")).get_json())["points"]
    assert points[-1] == [10_000, 2.0]


async def test_stats_match_numpy_overall_and_per_bucket(
    client: QuartClient, run_worker: Callable[..., None], noisy: tuple
) -> None:
    ts, vs = noisy
    submitted = await submit(
        client,
        "stats",
        keys=["noisy"],
        bucket="30m",
        percentiles=[50, 90, 99, 99.9],
        **{"from": 0, "to": 3_599_000},
    )
    run_worker()
    result = await result_of(client, submitted["id"])
    (overall,) = result["series"]
    assert overall["count"] == len(vs)
    assert overall["min"] == vs.min() and overall["max"] == vs.max()
    assert overall["first"] == vs[0] and overall["last"] == vs[-1]
    assert overall["mean"] == pytest.approx(vs.mean())
    assert overall["sum"] == pytest.approx(vs.sum())
    assert overall["std"] == pytest.approx(vs.std(ddof=1))
    for p in (50, 90, 99, 99.9):
        assert overall[f"p{p:g}"] == pytest.approx(np.percentile(vs, p))
    assert [b["t"] for b in result["buckets"]] == [0, 1_800_000]
    half = vs[ts >= 1_800_000]
    assert result["buckets"][1]["mean"] == pytest.approx(half.mean())
    assert result["buckets"][1]["p90"] == pytest.approx(np.percentile(half, 90))

    text = await (await client.get(f"/v1/jobs/{submitted['id']}/files/stats.csv")).get_data(
        as_text=True
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["bucket_start"] for r in rows] == ["", "0", "1800000"]
    assert float(rows[0]["p99.9"]) == pytest.approx(np.percentile(vs, 99.9))


async def test_stats_of_each_series_of_a_filter(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "a", [[1, 1], [2, 3]], group="g")
    await add_series(client, "b", [[1, 10]], group="g")
    await add_series(client, "c", [], group="g")
    submitted = await submit(client, "stats", filter=["group=g"], percentiles=[50])
    run_worker()
    result = await result_of(client, submitted["id"])
    by_key = {s["key"]: s for s in result["series"]}
    assert by_key["a"]["mean"] == 2.0 and by_key["a"]["p50"] == 2.0
    assert by_key["b"]["count"] == 1 and by_key["b"]["max"] == 10.0
    assert by_key["c"]["count"] == 0 and by_key["c"]["mean"] is None
