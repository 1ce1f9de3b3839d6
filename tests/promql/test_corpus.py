"""The corpus (corpus.yaml) evaluated by a real Prometheus and by the engine, compared."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from promql import Engine, PromQLError, Unsupported, result_data, result_json
from promql.params import parse_duration, parse_time
from tests.promql.compare import diff
from tests.promql.conftest import PrometheusServer
from tests.promql.data import BASE_MS

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus.yaml").read_text())
DEFAULTS = CORPUS["defaults"]


def _abs(seconds: float) -> str:
    """A corpus time (seconds after the data's start) as the API's float seconds."""
    return f"{(BASE_MS + round(seconds * 1000)) / 1000:.3f}"


def corpus_cases(instant: str, range_: str, every: int = 1) -> list[Any]:
    """``(entry, kind, params)`` for every ``every``-th corpus expression: one instant case per
    time, one range case (``kind`` named ``instant`` and ``range_``)."""
    cases = []
    for number, entry in enumerate(CORPUS["queries"]):
        if number % every:
            continue
        kind = entry.get("kind", "both")
        if kind in ("instant", "both"):
            for t in entry.get("times", DEFAULTS["times"]):
                cases.append(pytest.param(entry, instant, {"time": _abs(t)}, id=f"{number}-i{t}"))
        if kind in ("range", "both"):
            rng = {
                **DEFAULTS["range"],
                **{k: entry[k] for k in ("start", "end", "step") if k in entry},
            }
            params = {
                "start": _abs(rng["start"]),
                "end": _abs(rng["end"]),
                "step": str(rng["step"]),
            }
            cases.append(pytest.param(entry, range_, params, id=f"{number}-r"))
    return cases


def _engine(engine: Engine, kind: str, query: str, params: dict[str, str]) -> dict[str, Any]:
    if kind == "instant":
        coro = engine.instant_query(query, parse_time(params["time"]))
    else:
        coro = engine.range_query(
            query,
            parse_time(params["start"]),
            parse_time(params["end"]),
            parse_duration(params["step"]),
        )
    return result_data(asyncio.run(coro))


@pytest.mark.parametrize(("entry", "kind", "params"), corpus_cases("instant", "range"))
def test_corpus(
    prometheus: PrometheusServer,
    engine: Engine,
    entry: dict[str, Any],
    kind: str,
    params: dict[str, str],
) -> None:
    query = entry["expr"]
    expect = entry.get("expect", "ok")
    answer = prometheus.query(
        "query" if kind == "instant" else "query_range", query=query, **params
    )
    if expect == "unsupported":
        with pytest.raises(Unsupported) as info:
            _engine(engine, kind, query, params)
        assert info.value.error_type == "execution"
        return
    if expect == "error":
        assert answer["status"] == "error", f"prometheus answered {answer}"
        with pytest.raises(PromQLError):
            _engine(engine, kind, query, params)
        return
    assert answer["status"] == "success", f"prometheus: {answer}"
    actual = _engine(engine, kind, query, params)
    problems = diff(
        answer["data"], actual, ordered=entry.get("ordered", False), series_order=kind == "range"
    )
    assert not problems, "\n".join(problems[:20])


EXACT_JSON = [
    (
        "query_range",
        "node_temperature_celsius",
        {"start": "1700003000.5", "end": "1700004000", "step": "7.3"},
    ),
    (
        "query_range",
        "rate(http_requests_total[5m])",
        {"start": "1700003000", "end": "1700005000", "step": "60"},
    ),
    ("query_range", "time()", {"start": "1700000000.001", "end": "1700000100", "step": "10.01"}),
    ("query", "timestamp(up)", {"time": "1700003000.123"}),
    ("query", "odd_values[1m]", {"time": "1700003001"}),
    ("query", "sort(node_temperature_celsius)", {"time": "1700003000"}),
    ("query", '"text"', {"time": "1700003000"}),
    ("query", "1e-7 * 3", {"time": "1700003000"}),
    ("query", "2 ^ 80", {"time": "1700003000"}),
]


@pytest.mark.parametrize(("path", "query", "params"), EXACT_JSON)
def test_json_text_is_prometheus_own(
    prometheus: PrometheusServer, engine: Engine, path: str, query: str, params: dict[str, str]
) -> None:
    """Byte for byte the ``data`` Prometheus writes (where the arithmetic is the same)."""
    text = prometheus.client.get(
        f"{prometheus.url}/api/v1/{path}", params={"query": query, **params}
    ).text
    prefix = '{"status":"success","data":'
    assert text.startswith(prefix) and text.endswith("}")
    if path == "query":
        result = asyncio.run(engine.instant_query(query, parse_time(params["time"])))
    else:
        result = asyncio.run(
            engine.range_query(
                query,
                parse_time(params["start"]),
                parse_time(params["end"]),
                parse_duration(params["step"]),
            )
        )
    assert result_json(result) == text[len(prefix) : -1]
