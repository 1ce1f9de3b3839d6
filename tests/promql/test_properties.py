"""Properties that hold for any data (Hypothesis)."""

from __future__ import annotations

import asyncio
import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from promql import Engine, MemorySource, Series
from promql.eval.values import Vec
from promql.format import format_float_f, format_value, format_values
from promql.histogram import bucket_quantile, histogram_quantile

T0 = 1_700_000_000_000
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30))
def test_sum_is_numpys_sum(values: list[float]) -> None:
    source = MemorySource(
        Series({"__name__": "g", "i": str(i)}, [T0], [v]) for i, v in enumerate(values)
    )
    result = asyncio.run(Engine(source).instant_query("sum(g)", T0 + 1000))
    ((_, _, got),) = result.vector
    assert math.isclose(got, float(np.sum(values)), rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0.01, 1000),
    st.floats(1000, 1e6),
    st.integers(2, 40),
    st.sampled_from([5_000, 15_000, 60_000]),
)
def test_rate_of_a_linear_counter_is_its_slope(
    slope: float, start: float, windows: int, interval: int
) -> None:
    t = T0 + np.arange(0, 200) * interval
    v = start + slope * (t - T0) / 1000
    engine = Engine(MemorySource([Series({"__name__": "c"}, t, v)]))
    range_ms = windows * interval
    at = int(t[-1])
    result = asyncio.run(engine.instant_query(f"rate(c[{range_ms}ms])", at))
    ((_, _, got),) = result.vector
    assert math.isclose(got, slope, rel_tol=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=3, max_size=60), st.integers(0, 5))
def test_rate_of_a_monotone_counter_is_never_negative(increments: list[float], resets: int) -> None:
    v = np.cumsum(increments)
    for k in range(resets):
        v[(k + 1) * len(v) // (resets + 2) :] -= v[(k + 1) * len(v) // (resets + 2)] / 2
    t = T0 + np.arange(len(v)) * 15_000
    engine = Engine(MemorySource([Series({"__name__": "c"}, t, v)]))
    result = asyncio.run(engine.range_query("rate(c[1m])", T0, int(t[-1]), 15_000))
    for _, _, values in result.matrix:
        assert (values >= 0).all()


@given(finite)
def test_values_format_to_the_shortest_round_trip(x: float) -> None:
    text = format_value(x)
    assert float(text) == x
    assert float(format_float_f(x)) == x
    if x != 0 and (abs(x) < 1e-6 or abs(x) >= 1e21):
        assert "e" in text
    else:
        assert "e" not in text


EDGES = [0.0, -0.0, 1e-6, 9.999999999999999e-7, 1e-5, 1e-4, 1e15, 1e16, 1e17, 1e21, 1e20,
         9.999999999999999e20, 123456789012345680.0, 0.1, 2.5, -7.0, 5e-324, 1.7976931348623157e308,
         math.nan, math.inf, -math.inf]  # fmt: skip


@settings(max_examples=300, deadline=None)
@example(values=EDGES)
@given(st.lists(st.floats(width=64) | st.sampled_from(EDGES), max_size=40))
def test_values_format_in_bulk_as_one_by_one(values: list[float]) -> None:
    """The column-wise formatting of a range query's values equals the one-value one."""
    got = format_values(np.array(values, dtype=np.float64)).to_pylist()
    assert got == [format_value(v) for v in values]


@settings(max_examples=300, deadline=None)
@example(q=0.0, buckets={1.0: 0.0, math.inf: 3.0})  # 0/0 inside a bucket: NaN, as in Go
@given(
    st.floats(-0.2, 1.2),
    st.dictionaries(
        st.sampled_from([0.1, 0.5, 1.0, 2.0, 5.0, math.inf]), st.floats(0, 100), min_size=1
    ),
)
def test_vectorized_histogram_quantile_matches_the_scalar_algorithm(
    q: float, buckets: dict[float, float]
) -> None:
    rows = [(("le", "+Inf" if bound == math.inf else repr(bound)),) for bound in buckets]
    vec = Vec(rows, np.array([[c] for c in buckets.values()]), np.ones((len(rows), 1), bool))
    value = float(histogram_quantile(np.array([q]), vec, lambda: None).values[0, 0])
    expected = bucket_quantile(q, list(buckets.items()))
    assert (math.isnan(value) and math.isnan(expected)) or math.isclose(
        value, expected, rel_tol=1e-12
    )
