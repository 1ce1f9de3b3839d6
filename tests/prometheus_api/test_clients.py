"""Prometheus' clients against tsapi, unchanged: prometheus-api-client's range queries, and
the calls Grafana's Prometheus data source makes, in its order."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_api_client import PrometheusConnect

from tests.prometheus_api.conftest import TsapiServer
from tests.promql.compare import diff
from tests.promql.conftest import PrometheusServer
from tests.promql.data import BASE_MS

START = datetime.fromtimestamp(BASE_MS / 1000 + 600, UTC)
END = datetime.fromtimestamp(BASE_MS / 1000 + 7200, UTC)


def test_prometheus_api_client_range_queries(tsapi: TsapiServer, prom: PrometheusServer) -> None:
    ours = PrometheusConnect(url=tsapi.url, disable_ssl=True)
    theirs = PrometheusConnect(url=prom.url, disable_ssl=True)
    query = "sum by (job) (rate(http_requests_total[5m]))"
    got = ours.custom_query_range(query, start_time=START, end_time=END, step="60")
    want = theirs.custom_query_range(query, start_time=START, end_time=END, step="60")
    assert len(got) == 2
    data = {"resultType": "matrix"}
    assert not diff({**data, "result": want}, {**data, "result": got})
    series = ours.get_metric_range_data(
        "node_temperature_celsius", label_config={"zone": "eu"}, start_time=START, end_time=END
    )
    assert {s["metric"]["host"] for s in series} == {"h1", "h2", "h3", "h4"}
    assert all(s["metric"]["zone"] == "eu" and len(s["values"]) > 100 for s in series)
    assert ours.check_prometheus_connection()


def test_grafana_call_sequence(tsapi: TsapiServer) -> None:
    """Health check, buildinfo, labels and values with match[], series with limit, metadata,
    then query_range as GET and as form POST (Grafana's default method)."""
    http = tsapi.client
    base = f"{tsapi.url}/api/v1"
    start, end = str(BASE_MS // 1000), str(BASE_MS // 1000 + 10_800)
    health = http.get(f"{base}/query", params={"query": "1+1", "time": end}).json()
    assert health == {
        "status": "success",
        "data": {"resultType": "scalar", "result": [int(end), "2"]},
    }
    build = http.get(f"{base}/status/buildinfo").json()
    assert build["status"] == "success" and build["data"]["version"].startswith("2.")
    labels = http.get(f"{base}/labels", params={"match[]": "up", "start": start, "end": end}).json()
    assert labels == {"status": "success", "data": ["__name__", "instance", "job"]}
    values = http.get(
        f"{base}/label/instance/values",
        params={"match[]": 'http_requests_total{job="api"}', "start": start, "end": end},
    ).json()
    assert values["data"] == ["a:9100", "b:9100", "c:9100"]
    names = http.get(f"{base}/label/__name__/values").json()["data"]
    assert "up" in names and "http_requests_total" in names
    series = http.get(
        f"{base}/series",
        params={"match[]": "http_requests_total", "start": start, "end": end, "limit": "3"},
    ).json()
    assert series["status"] == "success" and len(series["data"]) == 3
    assert all(s["__name__"] == "http_requests_total" for s in series["data"])
    assert http.get(f"{base}/metadata").json() == {"status": "success", "data": {}}
    params = {"query": "rate(up[5m])", "start": start, "end": end, "step": "300"}
    by_get = http.get(f"{base}/query_range", params=params)
    by_post = http.post(f"{base}/query_range", data=params)
    assert by_post.headers["content-type"].startswith("application/json")
    assert by_get.status_code == by_post.status_code == 200
    assert by_get.json() == by_post.json()
    assert len(by_get.json()["data"]["result"]) == 3
    prefixed = http.post(f"{tsapi.url}/prometheus/api/v1/query_range", data=params)
    assert prefixed.json() == by_get.json()
