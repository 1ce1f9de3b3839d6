"""The engine on its own: errors naming unsupported constructs, limits, timeouts, the
spans it asks the source for, staleness, and the result shapes."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from promql import (
    STALE_NAN,
    BadData,
    Engine,
    ExecutionError,
    Matcher,
    MemorySource,
    ParseError,
    QueryCanceled,
    QueryTimeout,
    Series,
    Unsupported,
    result_data,
    result_json,
)

T0 = 1_700_000_000_000


def _source() -> MemorySource:
    t = T0 + np.arange(0, 3_600_000, 15_000)
    return MemorySource(
        [
            Series({"__name__": "c", "job": "a"}, t, np.arange(len(t), dtype=float)),
            Series({"__name__": "c", "job": "b"}, t, np.arange(len(t), dtype=float) * 2),
        ]
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sgn(c)", "function sgn()"),
        ("day_of_week()", "function day_of_week()"),
        ("holt_winters(c[5m], 0.5, 0.5)", "function holt_winters()"),
        ("acos(c)", "function acos()"),
        ("limitk(1, c)", "aggregation limitk()"),
        ('sort_by_label(c, "job")', "function sort_by_label()"),
        ('c{job="a" or job="b"}', "'or' between matchers"),
    ],
)
def test_unsupported_constructs_name_themselves(query: str, named: str) -> None:
    source = _source()
    with pytest.raises(Unsupported) as info:
        run(Engine(source).instant_query(query, T0))
    assert named in str(info.value)
    assert info.value.error_type == "execution"
    assert source.calls == []  # refused before reading anything


@pytest.mark.parametrize("query", ["sum(c", "rate(c)", "c{", "1 > 2", '{job=~".*"}', "c[0s]"])
def test_parse_errors_are_bad_data(query: str) -> None:
    with pytest.raises(ParseError) as info:
        run(Engine(_source()).instant_query(query, T0))
    assert info.value.error_type == "bad_data"


def test_range_query_of_a_range_vector_is_refused() -> None:
    with pytest.raises(BadData, match='invalid expression type "range vector" for range query'):
        run(Engine(_source()).range_query("c[5m]", T0, T0 + 60_000, 15_000))
    with pytest.raises(BadData, match='invalid expression type "string"'):
        run(Engine(_source()).range_query('"x"', T0, T0 + 60_000, 15_000))


def test_duplicate_labelset_is_an_execution_error() -> None:
    t = T0 + np.arange(0, 600_000, 15_000)
    source = MemorySource(
        [
            Series({"__name__": "x", "a": "1"}, t, np.ones(len(t))),
            Series({"__name__": "y", "a": "1"}, t, np.ones(len(t))),
        ]
    )
    with pytest.raises(
        ExecutionError, match="vector cannot contain metrics with the same labelset"
    ):
        run(Engine(source).instant_query('abs({__name__=~"x|y"})', T0 + 300_000))


def test_spans_asked_of_the_source() -> None:
    source = _source()
    engine = Engine(source)
    run(engine.range_query("rate(c[5m] offset 1m) + c", T0 + 600_000, T0 + 1_200_000, 60_000))
    spans = sorted((start, end) for _, start, end in source.calls)
    assert spans == [
        (T0 + 600_000 - 60_000 - 300_000, T0 + 1_200_000 - 60_000),  # rate: range + offset
        (T0 + 600_000 - 300_000, T0 + 1_200_000),  # c: lookback
    ]
    source.calls.clear()
    run(engine.instant_query("max_over_time(c[10m:1m] @ 1700003600)", T0 + 7_200_000))
    ((matchers, start, end),) = source.calls
    assert matchers == (Matcher("__name__", "=", "c"),)
    # The inner grid is aligned to multiples of the step: from the first after @ - 10m,
    # to the last at or before @; each inner step needs its lookback.
    first = -(-(T0 + 3_000_000) // 60_000) * 60_000
    assert (start, end) == (first - 300_000, (T0 + 3_600_000) // 60_000 * 60_000)


def test_staleness_marker_ends_a_series_within_the_lookback() -> None:
    t = T0 + np.arange(0, 300_000, 15_000)
    v = np.ones(len(t))
    v[10] = STALE_NAN
    source = MemorySource([Series({"__name__": "g"}, t[:11], v[:11])])
    engine = Engine(source)
    before = run(engine.instant_query("g", int(t[9]) + 1000))
    after = run(engine.instant_query("g", int(t[10]) + 1000))
    assert len(before.vector) == 1 and after.vector == []


def test_lookback_is_configurable() -> None:
    source = MemorySource([Series({"__name__": "g"}, [T0], [1.0])])
    assert len(run(Engine(source).instant_query("g", T0 + 299_000)).vector) == 1
    assert run(Engine(source, lookback_ms=60_000).instant_query("g", T0 + 61_000)).vector == []


def test_deadline_and_cancellation() -> None:
    engine = Engine(_source())
    with pytest.raises(QueryTimeout) as info:
        run(engine.instant_query("sum(rate(c[5m]))", T0, deadline=time.monotonic() - 1))
    assert info.value.error_type == "timeout"
    with pytest.raises(QueryCanceled):
        run(engine.instant_query("c", T0 + 60_000, cancelled=lambda: True))


def test_result_shapes_and_formatting() -> None:
    engine = Engine(_source())
    scalar = run(engine.instant_query("1 / 3", T0 + 123))
    assert result_data(scalar) == {
        "resultType": "scalar",
        "result": [1_700_000_000.123, "0.3333333333333333"],
    }
    assert (
        result_json(scalar)
        == '{"resultType":"scalar","result":[1700000000.123,"0.3333333333333333"]}'
    )
    string = run(engine.instant_query('"hi"', T0))
    assert result_json(string) == '{"resultType":"string","result":[1700000000,"hi"]}'
    matrix = run(engine.range_query("c", T0, T0 + 30_000, 15_000))
    assert result_data(matrix)["result"][0] == {
        "metric": {"__name__": "c", "job": "a"},
        "values": [[1_700_000_000.0, "0"], [1_700_000_015.0, "1"], [1_700_000_030.0, "2"]],
    }
    vector = run(engine.instant_query("c / 0", T0 + 15_000))
    assert [s["value"][1] for s in result_data(vector)["result"]] == ["+Inf", "+Inf"]
    nan = run(engine.instant_query("c - c / 0", T0 + 15_000))
    assert {s["value"][1] for s in result_data(nan)["result"]} == {"-Inf"}


def test_range_limits_in_the_engine() -> None:
    engine = Engine(_source())
    with pytest.raises(BadData, match=r"exceeded maximum resolution of 11,000 points"):
        run(engine.range_query("c", T0, T0 + 11_001_000, 1000))
    assert (
        run(engine.range_query("vector(1)", T0, T0 + 11_000_000, 1000)).matrix[0][1].size == 11_001
    )


def test_max_samples() -> None:
    with pytest.raises(ExecutionError, match="would load too many samples"):
        run(Engine(_source(), max_samples=100).range_query("c", T0, T0 + 3_600_000, 60_000))


@pytest.mark.parametrize(
    "query", ['c{job=~"(?=a)a"}', r'c{job=~"(a)\\1"}', r'c{job=~"\\pL"}', 'c{job=~"(?>a)"}']
)
def test_regexes_outside_re2_are_refused(query: str) -> None:
    with pytest.raises((Unsupported, ParseError)):
        run(Engine(_source()).instant_query(query, T0))


def test_slow_source_hits_the_deadline() -> None:
    class Slow(MemorySource):
        async def select(self, matchers, start_ms, end_ms):  # type: ignore[no-untyped-def]
            await asyncio.sleep(5)
            return []

    with pytest.raises(QueryTimeout):
        run(Engine(Slow()).instant_query("c", T0, deadline=time.monotonic() + 0.05))
