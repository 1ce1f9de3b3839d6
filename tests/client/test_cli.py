"""The client side of the ``tsapi`` command, run against a real server (in-process click, over
real HTTP): outputs, files, jobs, and short errors with a non-zero status."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tsapi_client import Client

from tsapi.cli import main

T0 = 1706702400000
TSAPI = str(Path(sys.executable).with_name("tsapi"))


@pytest.fixture
def tsapi(api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner(env={"TSAPI_URL": api_url, "TSAPI_API_KEY": None})


def run(runner: CliRunner, *args: str, code: int = 0) -> Result:
    result = runner.invoke(main, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def test_series_commands_create_list_show_alter_and_delete(tsapi: CliRunner) -> None:
    options = [
        "-l",
        "city=austin",
        "-l",
        "kind=t",
        "--retention",
        "1d",
        "--duplicate-policy",
        "last",
    ]
    created = run(tsapi, "series", "create", "temp:austin", *options, "--format", "json")
    body = json.loads(created.stdout)
    assert body["labels"] == {"city": "austin", "kind": "t"}
    assert body["retention_ms"] == 86_400_000 and body["duplicate_policy"] == "last"
    run(tsapi, "series", "create", "temp:dallas", "-l", "kind=t")

    listed = run(tsapi, "series", "list", "-f", "kind=t").stdout.splitlines()
    assert listed[0].split() == ["KEY", "LABELS"]
    assert [line.split() for line in listed[2:]] == [
        ["temp:austin", "city=austin,kind=t"],
        ["temp:dallas", "kind=t"],
    ]
    keys = run(tsapi, "series", "list", "--format", "keys").stdout
    assert keys == "temp:austin\ntemp:dallas\n"

    shown = run(tsapi, "series", "show", "temp:austin").stdout
    assert ["retention_ms", "86400000"] in [line.split() for line in shown.splitlines()]
    altered = run(tsapi, "series", "alter", "temp:austin", "-l", "city=austin", "--format", "json")
    assert json.loads(altered.stdout)["labels"] == {"city": "austin"}

    assert run(tsapi, "series", "delete", "temp:austin", "temp:dallas").stdout == (
        "deleted temp:austin\ndeleted temp:dallas\n"
    )
    missing = run(tsapi, "series", "show", "temp:austin", code=1)
    assert missing.stderr == "Error: 404 Series not found: series 'temp:austin' does not exist\n"
    assert "Traceback" not in missing.output


def test_write_then_query_as_table_csv_and_json(tsapi: CliRunner, api_url: str) -> None:
    assert run(tsapi, "write", "s", "2024-01-31T12:00:00Z", "1.5", "--create", "-l", "k=v").stdout \
        == "wrote 1 point to s (series created)\n"  # fmt: skip
    run(tsapi, "write", "s", str(T0 + 60_000), "2.5")
    run(tsapi, "write", "s", "2024-01-31T12:02:30Z", "4")

    table = run(tsapi, "query", "s").stdout.splitlines()
    assert table[0].split() == ["TIME", "VALUE"]
    assert [line.split() for line in table[2:]] == [
        ["2024-01-31T12:00:00Z", "1.5"],
        ["2024-01-31T12:01:00Z", "2.5"],
        ["2024-01-31T12:02:30Z", "4"],
    ]
    csv = run(tsapi, "query", "s", "--agg", "sum", "--bucket", "2m", "--format", "csv").stdout
    assert csv == f"key,t,v\ns,{T0},4.0\ns,{T0 + 120_000},4.0\n"
    filled = run(tsapi, "query", "s", "--from", "-", "--to", "+", "--agg", "max",
                 "--bucket", "30s", "--fill", "zero", "--format", "json")  # fmt: skip
    values = [v for _, v in json.loads(filled.stdout)["points"]]
    assert values == [1.5, 0.0, 2.5, 0.0, 0.0, 4.0]
    many = run(tsapi, "query", "-f", "k=v", "--count", "1", "--format", "json").stdout
    assert json.loads(many) == {
        "series": [{"key": "s", "labels": {"k": "v"}, "points": [[T0, 1.5]]}]
    }
    latest = run(tsapi, "latest", "-f", "k=v").stdout.splitlines()
    assert latest[2].split() == ["s", "2024-01-31T12:02:30Z", "4"]
    assert run(tsapi, "labels").stdout == "k\n"
    assert run(tsapi, "labels", "k").stdout == "v\n"

    usage = run(tsapi, "query", code=2)
    assert "give a KEY or at least one --filter" in usage.stderr
    bad = run(tsapi, "query", "s", "--bucket", "soon", "--agg", "avg", code=1)
    assert bad.stderr.startswith("Error: 422 Invalid input")


def test_query_csv_feeds_back_into_ingest(tsapi: CliRunner, api_url: str, tmp_path: Path) -> None:
    with Client(api_url) as api:
        api.write_many([("a", T0 + i, float(i)) for i in range(5)], create=True)
    exported = run(tsapi, "query", "a", "--format", "csv").stdout
    (tmp_path / "a.csv").write_text(exported.replace("a,", "copy,"))
    summary = run(tsapi, "ingest", "a.csv", "--create").stdout
    assert summary.startswith("a.csv: 5 points written, 1 series created, 0 rejected (")
    with Client(api_url) as api:
        assert api.range("copy") == api.range("a")


def test_ingest_lists_rejected_lines_and_exits_non_zero(tsapi: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "m.lp").write_text("cpu,host=a idle=1 1000\ncpu,host=a idle=x 2000\n")
    result = run(tsapi, "ingest", "m.lp", "--precision", "ms", code=1)
    assert result.stdout.startswith("m.lp: 1 point written, 1 series created, 1 rejected (")
    assert result.stderr.startswith("Error: 1 point was rejected:\n  line 2")
    unknown = run(tsapi, "ingest", "m.lp", "--format", "json", code=1)
    assert unknown.stderr.startswith("Error: 400 Malformed JSON")
    (tmp_path / "x.dat").write_text("whatever")
    guess = run(tsapi, "ingest", "x.dat", code=1)
    assert guess.stderr.startswith("Error: cannot tell the format of x.dat")


def test_jobs_submit_wait_out_list_show_and_cancel(
    tsapi: CliRunner, api_url: str, job_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    with Client(api_url) as api:
        api.write_many([("p", T0 + i * 1000, float(i % 7)) for i in range(30)], create=True)
    result = run(tsapi, "jobs", "submit", "plot", "-k", "p", "-p", "title=P", "-p",
                 'formats=["png"]', "--out", "p.png")  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[0].startswith("submitted plot job ") and lines[0].endswith(" (queued)")
    assert lines[1].endswith("s; files: data.csv, plot.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert lines[2] == f"saved p.png ({(tmp_path / 'p.png').stat().st_size} bytes)"

    job_id = run(tsapi, "jobs", "submit", "noop", "-p", "steps=2", "--wait", "-q").stdout.strip()
    shown = [line.split(None, 1) for line in run(tsapi, "jobs", "show", job_id).stdout.splitlines()]
    assert ["status", "finished"] in shown
    assert ["params", '{"seconds": 0.0, "steps": 2, "fail_with": null}'] in shown
    assert json.loads(run(tsapi, "jobs", "result", job_id).stdout) == {"steps": 2}
    listed = run(tsapi, "jobs", "list", "--type", "noop", "--format", "json").stdout
    assert [j["id"] for j in json.loads(listed)["jobs"]] == [job_id]
    ended = run(tsapi, "jobs", "cancel", job_id, code=1)
    assert ended.stderr.startswith("Error: 409 Job already ended")

    failed = run(tsapi, "jobs", "submit", "noop", "-p", "fail_with=boom", "--wait", code=1)
    assert failed.stderr.startswith("Error: job ") and "failed: RuntimeError: boom" in failed.stderr

    blocker = run(tsapi, "jobs", "submit", "noop", "-p", "seconds=1", "-q").stdout.strip()
    later = run(tsapi, "jobs", "submit", "noop", "--after", blocker, "-q").stdout.strip()
    assert (
        run(tsapi, "jobs", "cancel", later).stdout == f"job {later}: canceled (cancel requested)\n"
    )
    waited = run(tsapi, "jobs", "wait", later, code=1)
    assert waited.stderr == f"Error: job {later} (noop) was canceled\n"

    unknown = run(tsapi, "jobs", "submit", "plot", "-f", "kind=none", code=1)
    assert unknown.stderr == (
        "Error: 404 No series match the filter: the filter kind=none matches no series\n"
    )


def test_jobs_open_launches_the_plot_page_in_a_browser(
    tsapi: CliRunner, api_url: str, job_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    opened = tmp_path / "opened"
    browser = tmp_path / "bin" / "xdg-open"
    browser.parent.mkdir()
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    with Client(api_url) as api:
        api.write_many([("p", T0 + i * 1000, float(i)) for i in range(5)], create=True)
    tsapi.env["PATH"] = f"{browser.parent}{os.pathsep}{os.environ['PATH']}"
    run(tsapi, "jobs", "submit", "plot", "-k", "p", "-p", 'formats=["html"]', "--open")
    deadline = time.monotonic() + 10
    while not (opened.exists() and opened.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    page = Path(opened.read_text().strip())
    assert page.name == "plot.html"
    assert b"<html" in page.read_bytes()[:2000].lower()


def test_commands_print_no_library_warnings_and_jobs_help_points_to_the_types() -> None:
    env = {**os.environ, "TSAPI_REDIS_URL": "redis://127.0.0.1:1/0", "PYTHONWARNINGS": "default"}
    for command in (["config", "show"], ["keys", "list"]):
        done = subprocess.run(
            [TSAPI, *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert "Warning" not in done.stderr, done.stderr
    helped = subprocess.run([TSAPI, "jobs", "--help"], capture_output=True, text=True, timeout=60)
    assert "tsapi jobs types" in helped.stdout
