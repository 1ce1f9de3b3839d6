"""The corpus (corpus.yaml) evaluated by a real Prometheus and by the engine, compared."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from promql import Engine, PromQLError, Unsupported, result_data
from promql.params import parse_duration, parse_time
from tests.promql.compare import diff
from tests.promql.conftest import PrometheusServer
from tests.promql.data import BASE_MS

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus.yaml").read_text())
DEFAULTS = CORPUS["defaults"]


def _abs(seconds: float) -> str:
    """A corpus time (seconds after the data's start) as the API's float seconds."""
    return f"{(BASE_MS + round(seconds * 1000)) / 1000:.3f}"


def _cases() -> list[Any]:
    cases = []
    for number, entry in enumerate(CORPUS["queries"]):
        kind = entry.get("kind", "both")
        if kind in ("instant", "both"):
            for t in entry.get("times", DEFAULTS["times"]):
                cases.append(pytest.param(entry, "instant", {"time": _abs(t)}, id=f"{number}-i{t}"))
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
            cases.append(pytest.param(entry, "range", params, id=f"{number}-r"))
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


@pytest.mark.parametrize(("entry", "kind", "params"), _cases())
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
    problems = diff(answer["data"], actual, ordered=entry.get("ordered", False))
    assert not problems, "\n".join(problems[:20])
