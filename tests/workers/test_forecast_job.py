"""forecast: a seasonal signal's continuation stays within the prediction interval."""

import csv
import io
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit
from workers.jobs.forecast import fit_forecast

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def seasonal(hours: np.ndarray, level: float = 10.0, amplitude: float = 3.0) -> np.ndarray:
    phase = 2 * np.pi * hours / 24
    return level + amplitude * np.sin(phase) + 0.3 * amplitude * np.cos(2 * phase)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    period=st.integers(2, 48),
    cycles=st.integers(4, 12),
    level=st.floats(-1e3, 1e3),
    amplitude=st.floats(0.1, 100),
    noise=st.sampled_from([0.0, 0.01, 0.05]),
    trend=st.sampled_from(["none", "add", "damped"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_forecast_of_a_pure_seasonal_signal_stays_within_its_interval(
    period: int, cycles: int, level: float, amplitude: float, noise: float, trend: str, seed: int
) -> None:
    n = max(period * cycles, 12 + period)
    steps = np.arange(n + 2 * period)
    truth = level + amplitude * np.sin(2 * np.pi * steps / period)
    history = truth[:n] + np.random.default_rng(seed).normal(0, noise * amplitude, n)
    fit = fit_forecast(history, 2 * period, season_buckets=period, trend=trend)
    future = truth[n:]
    assert np.all(fit.lower <= future) and np.all(future <= fit.upper)
    assert np.all(fit.lower <= fit.mean) and np.all(fit.mean <= fit.upper)


async def test_forecast_job_continues_the_season_and_writes_the_forecast(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    hours = np.arange(14 * 24)
    values = seasonal(hours) + np.random.default_rng(1).normal(0, 0.1, len(hours))
    points = [[T0 + int(h) * HOUR, float(v)] for h, v in zip(hours, values, strict=True)]
    del points[100:103]  # a gap of three hours, filled by interpolation
    await add_series(client, "demand", points, site="x")
    submitted = await submit(
        client,
        "forecast",
        keys=["demand"],
        bucket="1h",
        season="1d",
        horizon=48,
        write=True,
        width=600,
        height=300,
    )
    assert submitted["params"]["season"] == 24 * HOUR
    run_worker()
    document = await job(client, submitted["id"])
    assert document["status"] == "finished", document
    assert [f["name"] for f in document["files"]] == [
        "forecast.csv",
        "forecast.html",
        "forecast.png",
    ]
    result = await (await client.get(f"/v1/jobs/{submitted['id']}/result")).get_json()
    (series,) = result["series"]
    assert series["history_buckets"] == 14 * 24 and series["filled_gaps"] == 3
    assert series["model"]["season_buckets"] == 24
    forecast = series["forecast"]
    future_hours = np.arange(14 * 24, 16 * 24)
    assert forecast["t"] == [T0 + int(h) * HOUR for h in future_hours]
    truth = seasonal(future_hours)
    lower, upper = np.array(forecast["lower"]), np.array(forecast["upper"])
    assert np.all((lower <= truth) & (truth <= upper))
    assert np.abs(np.array(forecast["value"]) - truth).max() < 0.5
    assert np.all(upper - lower < 3)  # an interval that says something

    written = await (await client.get("/v1/series/demand:forecast/points")).get_json()
    assert written["points"] == [
        [t, v] for t, v in zip(forecast["t"], forecast["value"], strict=True)
    ]
    text = await (await client.get(f"/v1/jobs/{submitted['id']}/files/forecast.csv")).get_data()
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert len(rows) == 48 and rows[0]["time"] == "2024-01-15T00:00:00.000Z"
    assert float(rows[0]["upper"]) == pytest.approx(forecast["upper"][0])


async def test_too_short_a_history_is_refused_with_a_reason(client: QuartClient) -> None:
    await add_series(client, "short", [[T0 + h * HOUR, float(h % 24)] for h in range(30)])
    response = await client.post(
        "/v1/jobs",
        json={
            "type": "forecast",
            "params": {"keys": ["short"], "bucket": "1h", "season": "1d", "horizon": 5},
        },
    )
    assert response.status_code == 409
    detail = (await response.get_json())["detail"]
    assert "short has 30 buckets of history in the range; the model needs at least 48" in detail


@pytest.mark.parametrize(
    "params",
    [
        {"keys": ["s"], "horizon": 5},
        {"keys": ["s"], "bucket": "1h"},
        {"keys": ["s"], "bucket": "7m", "season": "1h", "horizon": 5},
        {"keys": ["s"], "bucket": "1m", "season": "1w", "horizon": 5},
        {"keys": ["s"], "bucket": "1h", "horizon": 5, "interval": 1.5},
        {"keys": ["s"], "bucket": "1h", "horizon": 5, "trend": "cubic"},
    ],
)
async def test_bad_forecast_params_are_refused(client: QuartClient, params: dict) -> None:
    await add_series(client, "s", [[1, 1.0]])
    response = await client.post("/v1/jobs", json={"type": "forecast", "params": params})
    assert response.status_code == 422, await response.get_data(as_text=True)


def test_a_multiplicative_season_gets_a_repeatable_simulated_interval() -> None:
    hours = np.arange(14 * 24)
    history = seasonal(hours, level=100, amplitude=20) * (1 + hours / 2000)
    first, second = (
        fit_forecast(history, 24, season_buckets=24, seasonal="mul", trend="damped")
        for _ in range(2)
    )
    assert first.model["interval_method"] == "simulated"
    assert first.lower.tolist() == second.lower.tolist()
    truth = seasonal(np.arange(14 * 24, 15 * 24), level=100, amplitude=20)
    assert np.abs(first.mean - truth * (1 + 14 * 24 / 2000)).max() < 5
