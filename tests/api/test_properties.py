"""Property tests: what is written reads back identical, and aggregations match numpy."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart.testing import QuartClient

_counter = itertools.count()
FIXTURE_OK = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

timestamps = st.integers(min_value=0, max_value=2**48)
values = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12)
samples = st.dictionaries(timestamps, values, min_size=1, max_size=200)


async def new_series(client: QuartClient, **options: object) -> str:
    key = f"p:{next(_counter)}"
    response = await client.post("/v1/series", json={"key": key, **options})
    assert response.status_code == 201
    return key


@FIXTURE_OK
@given(points=samples)
async def test_any_points_written_read_back_identical(client: QuartClient, points: dict) -> None:
    key = await new_series(client)
    body = [{"t": t, "v": v} for t, v in points.items()]
    response = await client.post(f"/v1/series/{key}/points", json=body)
    assert (await response.get_json())["written"] == len(points)
    read = await (await client.get(f"/v1/series/{key}/points")).get_json()
    assert read["points"] == [[t, points[t]] for t in sorted(points)]


def reference(aggregation: str, vs: np.ndarray) -> float:
    """A plain numpy computation of one bucket, as RedisTimeSeries defines it."""
    n = len(vs)
    match aggregation:
        case "avg":
            return float(np.mean(vs))
        case "sum":
            return float(np.sum(vs))
        case "min":
            return float(np.min(vs))
        case "max":
            return float(np.max(vs))
        case "range":
            return float(np.max(vs) - np.min(vs))
        case "count":
            return float(n)
        case "first":
            return float(vs[0])
        case "last":
            return float(vs[-1])
        case "std.p":
            return float(np.std(vs))
        case "var.p":
            return float(np.var(vs))
        case "std.s":
            return float(np.std(vs, ddof=1)) if n > 1 else 0.0
        case "var.s":
            return float(np.var(vs, ddof=1)) if n > 1 else 0.0
    raise AssertionError(aggregation)


AGGREGATIONS = [
    "avg",
    "sum",
    "min",
    "max",
    "range",
    "count",
    "first",
    "last",
    "std.p",
    "std.s",
    "var.p",
    "var.s",
]


@FIXTURE_OK
@given(
    points=st.dictionaries(
        st.integers(min_value=0, max_value=100_000),
        # RedisTimeSeries computes var.p of one sample near 1e-155 as -5e-324 (so std.p is NaN):
        # a floating-point quirk of the module, kept out of this comparison
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(
            lambda x: x == 0 or abs(x) > 1e-100
        ),
        min_size=1,
        max_size=150,
    ),
    bucket=st.integers(min_value=1, max_value=50_000),
)
async def test_every_aggregator_matches_numpy(
    client: QuartClient, points: dict, bucket: int
) -> None:
    key = await new_series(client)
    await client.post(f"/v1/series/{key}/points", json=[[t, v] for t, v in points.items()])
    ts = np.array(sorted(points))
    vs = np.array([points[t] for t in ts])
    starts = ts // bucket * bucket
    for aggregation in AGGREGATIONS:
        response = await client.get(f"/v1/series/{key}/points?agg={aggregation}&bucket={bucket}")
        got = (await response.get_json())["points"]
        expected = [
            [int(start), reference(aggregation, vs[starts == start])] for start in np.unique(starts)
        ]
        assert [p[0] for p in got] == [p[0] for p in expected], aggregation
        for (_, have), (_, want) in zip(got, expected, strict=True):
            assert have == pytest.approx(want, rel=1e-6, abs=1e-6), aggregation


async def test_twa_weights_values_by_time(client: QuartClient) -> None:
    key = await new_series(client)
    # 0 for 9 s then 10 for 1 s: the plain mean is 5, the time-weighted mean much lower
    await client.post(f"/v1/series/{key}/points", json=[[0, 0], [9000, 0], [9001, 10], [10000, 10]])
    twa = await (await client.get(f"/v1/series/{key}/points?agg=twa&bucket=20s")).get_json()
    avg = await (await client.get(f"/v1/series/{key}/points?agg=avg&bucket=20s")).get_json()
    assert avg["points"] == [[0, 5.0]]
    ((_, value),) = twa["points"]
    assert value == pytest.approx(1.0, abs=0.01)
    assert not math.isnan(value)
