"""correlate: matrices match numpy/scipy, a shifted copy is found at its shift."""

import csv
import io
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from quart.testing import QuartClient
from scipy.stats import spearmanr

from tests.workers.helpers import add_series, job, submit
from workers.jobs.correlate import best_lags, pearson_matrix, spearman_matrix


def walk(seed: int, n: int) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(0, 1, n))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(30, 400),
    rows=st.integers(2, 5),
    missing=st.floats(0, 0.3),
    offset=st.sampled_from([0.0, 1e6, -1e9]),
)
def test_pearson_and_spearman_match_scipy_on_common_points(
    seed: int, n: int, rows: int, missing: float, offset: float
) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (rows, n)).cumsum(axis=1) + offset
    z[rng.random((rows, n)) < missing] = np.nan
    pearson, spearman = pearson_matrix(z, z), spearman_matrix(z)
    for i in range(rows):
        for j in range(rows):
            both = np.isfinite(z[i]) & np.isfinite(z[j])
            assert pearson[i, j] == pytest.approx(np.corrcoef(z[i, both], z[j, both])[0, 1])
            assert spearman[i, j] == pytest.approx(spearmanr(z[i, both], z[j, both])[0])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(60, 600), shift=st.integers(-20, 20))
def test_a_shifted_copy_correlates_best_at_its_shift(seed: int, n: int, shift: int) -> None:
    a = walk(seed, n + 40)
    b = np.roll(a, shift)[20 : 20 + n]  # b(t) = a(t - shift)
    _, lag, best = best_lags(np.vstack([a[20 : 20 + n], b]), 25)
    assert lag[0, 1] == shift and lag[1, 0] == -shift
    assert best[0, 1] == pytest.approx(1.0)


def test_constant_or_too_short_rows_have_no_correlation() -> None:
    z = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], [1.0, np.nan, np.nan, 2.0]])
    r = pearson_matrix(z, z)
    assert r[0, 0] == pytest.approx(1.0)
    assert np.isnan(r[0, 1]) and np.isnan(r[1, 1]) and np.isnan(r[0, 2])


async def test_correlate_finds_the_lag_of_a_shifted_copy_and_plots_a_heat_map(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    n = 2000
    a = walk(1, n)
    rng = np.random.default_rng(2)
    series = {
        "m:a": [[i * 1000, float(v)] for i, v in enumerate(a)],
        "m:b": [[i * 1000, float(a[i - 7])] for i in range(7, n)],  # a, 7 s later
        "m:c": [[i * 1000, float(-a[i] + rng.normal(0, 0.5))] for i in range(n)],
        "m:d": [[i * 1000, float(v)] for i, v in enumerate(rng.normal(0, 1, n))],
    }
    for key, points in series.items():
        await add_series(client, key, points, group="m")
    submitted = await submit(client, "correlate", filter=["group=m"], max_lag="20s", width=500)
    run_worker()
    document = await job(client, submitted["id"])
    assert document["status"] == "finished", document
    assert [f["name"] for f in document["files"]] == [
        "aligned.csv",
        "correlation.csv",
        "heatmap.html",
        "heatmap.png",
        "lags.csv",
    ]
    result = await (await client.get(f"/v1/jobs/{submitted['id']}/result")).get_json()
    assert result["keys"] == list(series)
    assert result["bucket_ms"] == 1000 and result["buckets"] == n  # the sampling interval
    assert result["max_lag_buckets"] == 20
    pairs = {(p["a"], p["b"]): p for p in result["pairs"]}
    ab = pairs[("m:a", "m:b")]
    assert (ab["best_lag"], ab["best_lag_ms"]) == (7, 7000)
    assert ab["best_r"] == pytest.approx(1.0) and ab["n"] == n - 7
    assert ab["pearson"] == pytest.approx(np.corrcoef(a[7:], a[:-7])[0, 1])
    assert pairs[("m:a", "m:c")]["pearson"] < -0.95
    assert pairs[("m:a", "m:c")]["best_lag"] == 0
    assert abs(pairs[("m:a", "m:d")]["pearson"]) < 0.2
    assert result["pearson"][0][0] == 1.0 and result["pearson"][0][1] == ab["pearson"]
    grid = np.array([[p[1] for p in series[k]] for k in ("m:a", "m:c", "m:d")])
    assert result["spearman"][0][2] == pytest.approx(spearmanr(grid[0], grid[1])[0])

    text = await (await client.get(f"/v1/jobs/{submitted['id']}/files/lags.csv")).get_data()
    rows = [r for r in csv.DictReader(io.StringIO(text.decode())) if r["b"] == "m:b"]
    best = max((r for r in rows if r["a"] == "m:a"), key=lambda r: float(r["r"]))
    assert (best["lag"], best["lag_ms"]) == ("7", "7000")
    png = await (await client.get(f"/v1/jobs/{submitted['id']}/files/heatmap.png")).get_data()
    assert Image.open(io.BytesIO(png)).size == (500, 600)


async def test_correlate_needs_two_series(client: QuartClient) -> None:
    await add_series(client, "one", [[1, 1.0]], group="solo")
    response = await client.post(
        "/v1/jobs", json={"type": "correlate", "params": {"filter": ["group=solo"]}}
    )
    assert response.status_code == 409  # the data does not allow it (job-not-possible)
    assert "at least two series" in (await response.get_json())["detail"]
