"""The sync client against a real server: every endpoint, typed answers, errors with details."""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tsapi_client import (
    Aggregation,
    ApiError,
    BulkResult,
    Client,
    Conflict,
    InvalidInput,
    Job,
    JobCanceled,
    JobFailed,
    JobStatus,
    NotFound,
    Points,
    Series,
    WaitTimeout,
    WriteResult,
)

T0 = 1706702400000  # 2024-01-31T12:00:00Z
MINUTE = 60_000


@pytest.fixture
def api(api_url: str) -> Iterator[Client]:
    with Client(api_url, timeout=10) as client:
        yield client


def test_series_round_trip_with_typed_answers(api: Client) -> None:
    created = api.create_series(
        "temp:austin",
        {"city": "austin", "kind": "temp"},
        retention=timedelta(days=30),
        duplicate_policy="last",
        chunk_size=128,
    )
    assert isinstance(created, Series)
    assert created.retention_ms == 30 * 86_400_000
    assert created.duplicate_policy == "last"
    assert created.chunk_size == 128
    assert created.total_samples == 0 and created.first_timestamp is None

    api.create_series("temp:dallas", {"city": "dallas", "kind": "temp"})
    api.create_series("hum:austin", {"city": "austin", "kind": "hum"})
    assert [s.key for s in api.list_series("kind=temp")] == ["temp:austin", "temp:dallas"]
    everything = api.list_series(page_size=1)  # three pages, followed
    assert [s.key for s in everything] == ["hum:austin", "temp:austin", "temp:dallas"]
    assert [s.key for s in api.list_series(limit=2)] == ["hum:austin", "temp:austin"]

    changed = api.alter_series("temp:austin", labels={"city": "austin", "unit": "C"})
    assert changed.labels == {"city": "austin", "unit": "C"}
    assert api.get_series("temp:austin").labels == changed.labels

    api.delete_series("temp:austin")
    with pytest.raises(NotFound) as caught:
        api.get_series("temp:austin")
    error = caught.value
    assert error.status == 404
    assert error.type.endswith(":series-not-found")
    assert error.problem["key"] == "temp:austin"
    assert str(error) == "404 Series not found: series 'temp:austin' does not exist"


def test_creating_an_existing_series_is_a_conflict(api: Client) -> None:
    api.create_series("a")
    with pytest.raises(Conflict) as caught:
        api.create_series("a")
    assert caught.value.type.endswith(":series-exists")


def test_invalid_series_options_carry_field_errors(api: Client) -> None:
    with pytest.raises(InvalidInput) as caught:
        api.create_series("a", chunk_size=-3)
    assert caught.value.status == 422
    with pytest.raises(InvalidInput) as caught:
        api.create_series("bad key!")
    assert "key" in str(caught.value)


def test_writes_and_ranges_with_every_option(api: Client) -> None:
    first = api.write("s", "2024-01-31T12:00:00Z", 1.0, create=True, labels={"kind": "x"})
    assert first == WriteResult(written=1, created=True)
    assert api.get_series("s").labels == {"kind": "x"}
    result = api.write_points(
        "s",
        [
            (datetime(2024, 1, 31, 12, 1, tzinfo=UTC), 2.0),
            {"t": T0 + 2 * MINUTE, "v": 4.0},
            (np.datetime64("2024-01-31T12:05:00"), 8.0),
        ],
    )
    assert result == WriteResult(written=3, created=False)

    raw = api.range("s")
    assert isinstance(raw, Points)
    assert raw == [(T0, 1.0), (T0 + MINUTE, 2.0), (T0 + 2 * MINUTE, 4.0), (T0 + 5 * MINUTE, 8.0)]
    assert api.range("s", T0 + MINUTE, "2024-01-31T12:02:00Z") == raw[1:3]
    assert api.range("s", reverse=True, count=1) == [(T0 + 5 * MINUTE, 8.0)]
    assert api.range("s", filter_by_value=(1.5, 5)) == raw[1:3]
    assert api.range("s", filter_by_ts=[T0, T0 + 5 * MINUTE]) == [raw[0], raw[3]]

    buckets = api.range("s", agg="sum", bucket="2m")
    assert buckets == [(T0, 3.0), (T0 + 2 * MINUTE, 4.0), (T0 + 4 * MINUTE, 8.0)]
    assert buckets.aggregation == Aggregation.SUM and buckets.bucket_ms == 2 * MINUTE
    assert api.range("s", agg="max", bucket="2m", bucket_timestamp="end")[0] == (
        T0 + 2 * MINUTE,
        2.0,
    )
    empty = api.range("s", agg="max", bucket="1m", empty=True)
    assert [v for _, v in empty] == [1.0, 2.0, 4.0, None, None, 8.0]
    filled = api.range("s", agg="max", bucket="1m", fill="previous")
    assert [v for _, v in filled] == [1.0, 2.0, 4.0, 4.0, 4.0, 8.0]
    assert [v for _, v in api.range("s", fn="delta")] == [1.0, 2.0, 4.0]
    picked = api.range("s", agg="avg", max_points=2)
    assert len(picked) <= 2 and picked.bucket_ms is not None and picked.aggregation == "avg"

    assert api.put_point("s", T0, 1.5) is False
    assert api.put_point("s", T0 + 10 * MINUTE, 9.0) is True
    assert api.delete_points("s", "-", T0 + MINUTE) == 2
    assert api.range("s", count=1) == [(T0 + 2 * MINUTE, 4.0)]


def test_iter_range_follows_every_page(api: Client) -> None:
    t = np.arange(T0, T0 + 250 * 1000, 1000)
    api.write_arrays("many", t, np.arange(250.0), create=True)
    pages = list(api.iter_range("many", page_size=100))
    assert pages == api.range("many")
    assert len(pages) == 250 and pages[-1] == (T0 + 249_000, 249.0)


def test_a_malformed_batch_is_refused_whole_with_one_error_per_point(api: Client) -> None:
    api.create_series("s")
    with pytest.raises(InvalidInput) as caught:
        api.write_points("s", [(T0, 1.0), (T0 + 1, "warm"), ("someday", 2.0)])
    errors = caught.value.errors
    assert [(e["index"], e["field"]) for e in errors] == [(1, "v"), (2, "t")]
    assert api.get_series("s").total_samples == 0


def test_write_many_in_several_requests_counts_over_the_whole_batch(api: Client) -> None:
    rows = [("a", T0 + i, float(i)) for i in range(3)] + [
        {"key": "b", "t": T0 + i, "v": float(i)} for i in range(2)
    ]
    result = api.write_many(rows, create=True, labels={"src": "test"}, batch_size=2)
    assert result == BulkResult(written=5, series=2, created=2)
    assert api.get_series("b").labels == {"src": "test"}

    bad = [("c", T0, 1.0), ("c", T0 + 1, 2.0), ("c", T0 + 2, 3.0), ("c", "never", 4.0)]
    with pytest.raises(InvalidInput) as caught:
        api.write_many(bad, create=True, batch_size=2)
    assert caught.value.written == 3
    assert [r["index"] for r in caught.value.rejected] == [3]


def test_duplicates_blocked_by_the_policy_are_a_conflict_listing_each_point(
    api: Client,
) -> None:
    api.create_series("strict", duplicate_policy="block")
    api.write("strict", T0, 1.0)
    with pytest.raises(Conflict) as caught:
        api.write_many([("strict", T0, 2.0), ("strict", T0 + 1, 3.0)])
    assert caught.value.type.endswith(":duplicate-blocked")
    assert caught.value.written == 1
    assert caught.value.rejected[0]["index"] == 0


def test_atomic_bulk_writes_nothing_when_a_point_is_bad(api: Client) -> None:
    with pytest.raises(InvalidInput):
        api.write_many([("x", T0, 1.0), ("x", T0 + 1, float("nan"))], create=True, atomic=True)
    assert api.list_series() == []


def test_numpy_arrays_and_dataframes_go_in_and_come_back(api: Client) -> None:
    times = np.array(["2024-01-31T12:00", "2024-01-31T12:01"], dtype="datetime64[s]")
    assert api.write_arrays("n", times, [1.0, 2.0], create=True).written == 2
    assert api.range("n") == [(T0, 1.0), (T0 + MINUTE, 2.0)]

    index = pd.date_range("2024-01-31T12:00", periods=3, freq="1min", tz="UTC")
    wide = pd.DataFrame({"w1": [1.0, np.nan, 3.0], "w2": [4.0, 5.0, 6.0]}, index=index)
    assert api.write_frame(wide, create=True, batch_size=2) == BulkResult(5, 2, 2)
    long = pd.DataFrame({"key": ["w3", "w3"], "t": [T0, T0 + MINUTE], "v": [7.0, 8.0]})
    assert api.write_frame(long, create=True).written == 2

    frame = api.range_frame("w1")
    assert list(frame.columns) == ["w1"]
    assert str(frame.index.tz) == "UTC"
    assert frame["w1"].tolist() == [1.0, 3.0]


def test_query_latest_labels_and_deleting_by_filter(api: Client) -> None:
    api.write_many(
        [
            ("temp:austin", T0, 20.0),
            ("temp:austin", T0 + MINUTE, 22.0),
            ("temp:dallas", T0, 10.0),
        ],
        create=True,
    )
    api.alter_series("temp:austin", labels={"city": "austin", "kind": "temp"})
    api.alter_series("temp:dallas", labels={"city": "dallas", "kind": "temp"})

    found = api.query("kind=temp", agg="max", bucket="1h")
    assert [(s.key, s.points) for s in found] == [
        ("temp:austin", [(T0, 22.0)]),
        ("temp:dallas", [(T0, 10.0)]),
    ]
    assert found[0].labels == {"city": "austin", "kind": "temp"}
    grouped = api.query("kind=temp", group_by="kind", reduce="sum", agg="max", bucket="1h")
    assert [(s.key, s.points) for s in grouped] == [("kind=temp", [(T0, 32.0)])]
    bare = api.query(["kind=temp", "city=austin"], with_labels=False)
    assert [(s.key, s.labels, len(s.points)) for s in bare] == [("temp:austin", {}, 2)]
    some = api.query("kind=temp", selected_labels=["city"], count=1)
    assert some[1].labels == {"city": "dallas"}

    frame = api.query_frame("kind=temp")
    assert list(frame.columns) == ["temp:austin", "temp:dallas"]
    assert frame["temp:dallas"].isna().tolist() == [False, True]

    latest = {x.key: (x.t, x.v) for x in api.latest("kind=temp")}
    assert latest == {"temp:austin": (T0 + MINUTE, 22.0), "temp:dallas": (T0, 10.0)}
    assert api.labels() == ["city", "kind"]
    assert api.label_values("city", "kind=temp") == ["austin", "dallas"]
    assert api.label_counts("city", "kind=temp") == {"austin": 1, "dallas": 1}
    deleted = api.delete_points_matching("kind=temp", "-", T0)
    assert deleted == {"temp:austin": 1, "temp:dallas": 1}


def test_compaction_rules_round_trip(api: Client) -> None:
    api.create_series("src")
    rule = api.create_rule("src", "src:1m", "avg", "1m", dest_labels={"res": "1m"})
    assert (rule.dest, rule.aggregation, rule.bucket_ms) == ("src:1m", Aggregation.AVG, MINUTE)
    assert api.get_series("src:1m").labels == {"res": "1m"}
    assert api.list_rules("src") == [rule]
    api.write_points("src", [(T0, 1.0), (T0 + 1000, 3.0), (T0 + MINUTE, 5.0)])
    assert api.range("src:1m") == [(T0, 2.0)]
    with pytest.raises(Conflict):
        api.create_rule("src", "src:1m", "max", "1m")
    api.delete_rule("src", "src:1m")
    assert api.list_rules("src") == []
    with pytest.raises(NotFound):
        api.delete_rule("src", "src:1m")


def test_write_file_sends_large_files_in_pieces_and_reports_lines_of_the_file(
    api: Client, tmp_path: Path
) -> None:
    lines = ["key,t,v"] + [f"f,{T0 + i * 1000},{i}" for i in range(20)]
    lines[8] = f"f,{T0 + 7000},warm"  # line 9 of the file
    path = tmp_path / "points.csv"
    path.write_text("\n".join(lines) + "\n")
    seen: list[tuple[int, int]] = []
    summary = api.write_file(
        path,
        create=True,
        chunk_bytes=64,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert summary.requests > 3
    assert (summary.written, summary.created, summary.rejected_count) == (19, 1, 1)
    assert summary.rejected == [
        {"line": 9, "key": "f", "t": T0 + 7000, "reason": "value must be a number"}
    ]
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert len(api.range("f")) == 19


def test_write_file_reads_gzipped_line_protocol_and_json(api: Client, tmp_path: Path) -> None:
    lp = tmp_path / "cpu.lp.gz"
    lp.write_bytes(gzip.compress(b"cpu,host=a idle=1 1000\ncpu,host=a idle=2 2000\nnot protocol\n"))
    summary = api.write_file(lp, precision="ms")
    assert (summary.written, summary.created, summary.rejected_count) == (2, 1, 1)
    assert summary.rejected[0]["line"] == 3
    (key,) = [s.key for s in api.list_series("measurement=cpu")]
    assert api.range(key) == [(1000, 1.0), (2000, 2.0)]

    doc = tmp_path / "points.json"
    doc.write_text('{"j": [[1000, 1.5], [2000, 2.5]]}')
    assert api.write_file(doc, create=True).written == 2
    with pytest.raises(ValueError, match="cannot tell the format"):
        api.write_file(tmp_path / "points.dat")


def test_jobs_submit_wait_with_progress_result_and_files(
    api: Client, job_worker: subprocess.Popen[bytes]
) -> None:
    api.write_many([("s", T0 + i * 1000, float(i)) for i in range(10)], create=True)
    seen: list[Job] = []
    # long enough for the backing-off polls to see it move, even on a loaded machine
    job = api.submit_job("noop", {"steps": 6}, seconds=3)
    assert job.status == JobStatus.QUEUED
    done = api.wait_job(job, timeout=30, on_progress=seen.append)
    assert done.status == JobStatus.FINISHED and done.ended
    assert seen[-1] == done
    percents = [j.progress.percent for j in seen]
    assert percents == sorted(percents) and len(seen) >= 3
    assert api.job_result(done) == {"steps": 6}

    stats = api.wait_job(api.submit_job("stats", keys=["s"], from_=T0), timeout=30)
    assert api.job_result(stats)["series"][0]["count"] == 10
    assert stats.file("stats.csv") is not None
    assert api.download(stats, "stats.csv").startswith(b"key,")
    assert [j.id for j in api.list_jobs(type="stats")] == [stats.id]
    assert {j.id for j in api.list_jobs(status="finished", limit=1)} <= {stats.id, job.id}
    assert "plot" in [t.name for t in api.job_types()]


def test_waiting_for_a_failing_job_raises_with_its_error(
    api: Client, job_worker: subprocess.Popen[bytes]
) -> None:
    job = api.submit_job("noop", fail_with="disk full")
    with pytest.raises(JobFailed) as caught:
        api.wait_job(job, timeout=30)
    assert caught.value.job.status == JobStatus.FAILED
    assert "disk full" in str(caught.value)
    with pytest.raises(Conflict) as refused:
        api.job_result(job)
    assert refused.value.type.endswith(":job-not-finished")


def test_wait_times_out_and_a_canceled_job_raises(
    api: Client, job_worker: subprocess.Popen[bytes]
) -> None:
    job = api.submit_job("noop", seconds=20, steps=100)
    with pytest.raises(WaitTimeout) as caught:
        api.wait_job(job, timeout=0.3)
    assert not caught.value.job.ended
    assert api.cancel_job(job).cancel_requested or api.get_job(job).status == "canceled"
    with pytest.raises(JobCanceled):
        api.wait_job(job, timeout=30)
    with pytest.raises(Conflict):
        api.cancel_job(job)


def test_jobs_with_bad_params_or_unknown_ids_are_refused(api: Client) -> None:
    with pytest.raises(NotFound) as caught:
        api.submit_job("plot", filter=["kind=nothing"])
    assert "matches no series" in str(caught.value)
    with pytest.raises(InvalidInput):
        api.submit_job("no-such-type")
    with pytest.raises(NotFound):
        api.get_job("no-such-job")
    with pytest.raises(ApiError) as missing:
        api.download("no-such-job", "plot.png")
    assert missing.value.status == 404


def test_a_job_that_depends_on_another_starts_after_it_has_finished(
    api: Client, job_worker: subprocess.Popen[bytes]
) -> None:
    first = api.submit_job("noop", seconds=0.3, steps=2)
    second = api.submit_job("noop", depends_on=[first])
    assert second.status == JobStatus.QUEUED and second.depends_on == [first.id]
    done = api.wait_job(second, timeout=30)
    first = api.get_job(first)
    assert first.status == JobStatus.FINISHED
    assert done.started_at is not None and first.ended_at is not None
    assert done.started_at >= first.ended_at
    assert done.depends_on == [first.id]


def test_schedules_are_created_listed_shown_and_deleted(api: Client) -> None:
    api.write("s", T0, 1.0, create=True)
    made = api.create_schedule("stats", keys=["s"], from_="-1d", every="1h")
    assert (made.type, made.cron, made.every_ms) == ("stats", None, 3_600_000)
    assert made.params["from"] == "-1d"  # resolved at each run, not now
    assert [s.id for s in api.list_schedules()] == [made.id]
    assert api.get_schedule(made.id) == made
    with pytest.raises(InvalidInput):
        api.create_schedule("stats", keys=["s"], cron="not cron")
    api.delete_schedule(made)
    assert api.list_schedules() == []
    with pytest.raises(NotFound):
        api.get_schedule(made.id)
