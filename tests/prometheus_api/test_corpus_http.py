"""The PromQL corpus (tests/promql/corpus.yaml) through both HTTP APIs: the same data
remote-written into a real Prometheus and into tsapi, each expression asked of both
(instant and range), the answers compared with tests/promql/compare.py's rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.prometheus_api.conftest import TsapiServer
from tests.promql.compare import diff
from tests.promql.conftest import PrometheusServer
from tests.promql.test_corpus import corpus_cases

EVERY = 1  # ask every n-th expression (1: the whole corpus)


@pytest.mark.parametrize(("entry", "path", "params"), corpus_cases("query", "query_range", EVERY))
def test_corpus_over_http(
    prom: PrometheusServer,
    tsapi: TsapiServer,
    entry: dict[str, Any],
    path: str,
    params: dict[str, str],
) -> None:
    query = entry["expr"]
    expect = entry.get("expect", "ok")
    answer = prom.query(path, query=query, **params)
    ours = tsapi.query(path, query=query, **params)
    if expect == "unsupported":
        assert ours["status"] == "error", ours
        assert ours["errorType"] == "execution", ours
        return
    if expect == "error":
        assert answer["status"] == "error", f"prometheus answered {answer}"
        assert ours["status"] == "error", f"tsapi answered {ours}"
        return
    assert answer["status"] == "success", f"prometheus: {answer}"
    assert ours["status"] == "success", f"tsapi: {ours}"
    problems = diff(
        answer["data"],
        ours["data"],
        ordered=entry.get("ordered", False),
        series_order=path == "query_range",
    )
    assert not problems, "\n".join(problems[:20])
