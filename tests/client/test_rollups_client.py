"""Rollup tiers from the Python client and the ``tsapi rollups`` command, against a real
server and worker."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tsapi_client import Client, NotFound

from tsapi.cli import main


@pytest.fixture
def api(api_url: str, job_worker: subprocess.Popen[bytes]) -> Iterator[Client]:
    with Client(api_url) as client:
        yield client


def _fill(api: Client, key: str, points: int = 7_200, **labels: str) -> None:
    api.create_series(key, labels)
    api.write_points(key, [(t * 1000, float(t % 61)) for t in range(points)])


def test_the_client_sets_reads_and_removes_tiers(api: Client) -> None:
    _fill(api, "temp")
    made = api.set_rollups("temp", [("1m", "1d"), "1h"])
    assert [t.bucket for t in made.tiers] == ["1m", "1h"] and made.backfill_job
    api.wait_job(made.backfill_job, timeout=60)
    shown = api.rollups("temp")
    assert not shown.pending and shown.origin == "series"
    assert shown.tiers[0].retention_ms == 86_400_000 and shown.tiers[1].retention_ms == 0
    assert shown.tiers[1].covers is not None and shown.tiers[1].covers.end == 3_599_999
    tiered = api.range("temp", agg="max", bucket="1h")
    assert tiered.tiers == ["1h", "1m", "raw"]
    raw = api.range("temp", agg="max", bucket="1h", tier="raw")
    assert raw.tiers == ["raw"] and list(raw) == list(tiered)
    assert api.range("temp").tiers is None  # raw samples: no tiers to speak of
    api.delete_rollups("temp")
    assert api.rollups("temp").tiers == []
    with pytest.raises(NotFound):
        api.rollups("nothing")


def test_the_client_sets_policies(api: Client) -> None:
    _fill(api, "temp:a", points=100, kind="temp")
    result = api.set_rollup_policies(
        [{"name": "temps", "filter": ["kind=temp"], "tiers": [("1m", "90d"), "1d"]}]
    )
    assert result["applied"]["updated"] == ["temp:a"]
    (policy,) = api.rollup_policies()
    assert policy.name == "temps" and [t.bucket for t in policy.tiers] == ["1m", "1d"]
    assert api.rollups("temp:a").origin == "policy:temps"
    query = api.query(["kind=temp"], agg="sum", bucket="1m")
    assert query[0].tiers is not None
    api.delete_rollup_policies()
    assert api.rollup_policies() == [] and api.rollups("temp:a").tiers == []


def _run(runner: CliRunner, *args: str, code: int = 0) -> Result:
    result = runner.invoke(main, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def test_the_rollups_command(
    api: Client, api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tsapi = CliRunner(env={"TSAPI_URL": api_url, "TSAPI_API_KEY": None})
    _fill(api, "temp", kind="temp")
    out = _run(tsapi, "rollups", "set", "temp", "1m:1d", "1h", "--wait").stdout
    assert "backfill job" in out and "temp: tiers from series, filled" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("1m", "1h", "raw"))]
    assert [r[0] for r in rows] == ["1m", "1h", "raw"] and rows[0][1] == "1d"
    shown = json.loads(_run(tsapi, "rollups", "show", "temp", "--format", "json").stdout)
    assert [t["bucket"] for t in shown["tiers"]] == ["1m", "1h"] and not shown["pending"]
    read = _run(tsapi, "query", "temp", "--agg", "avg", "--bucket", "1h", "--format", "json")
    assert json.loads(read.stdout)["tiers"] == ["1h", "1m", "raw"]
    raw = _run(
        tsapi,
        "query",
        "temp",
        "--agg",
        "avg",
        "--bucket",
        "1h",
        "--tier",
        "raw",
        "--format",
        "json",
    )
    assert json.loads(raw.stdout)["tiers"] == ["raw"]
    _run(tsapi, "rollups", "delete", "temp")
    assert "has no rollup tiers" in _run(tsapi, "rollups", "show", "temp").stdout

    applied = _run(tsapi, "rollups", "policy", "set", "temps", "-f", "kind=temp", "1m:90d", "1d")
    assert applied.stdout.startswith("1 series given tiers, 0 lost theirs; backfill job ")
    listed = _run(tsapi, "rollups", "policy", "list").stdout.splitlines()
    assert listed[-1].split() == ["temps", "kind=temp", "1m:90d", "1d:forever"]
    removed = _run(tsapi, "rollups", "policy", "delete", "temps").stdout
    assert removed.startswith("0 series given tiers, 1 lost theirs")
    missing = _run(tsapi, "rollups", "policy", "delete", "temps", code=1)
    assert "there is no policy 'temps'" in missing.output
