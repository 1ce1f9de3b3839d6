"""The series index stays exact whatever path changes series, and check/rebuild handle what
was written behind tsapi's back."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import redis
from hypothesis import HealthCheck, given, settings

from tests.conftest import free_port
from tests.tsdb.index_ops import Model, apply, assert_index_matches, operations
from tsdb.connection import connect
from tsdb.embedded import EmbeddedRedis, server_paths
from tsdb.errors import InvalidQuery
from tsdb.index import IndexState
from tsdb.index_build import check_index, rebuild_index
from tsdb.keys import index_prefix
from tsdb.labels import label_counts, label_name_counts
from tsdb.matchers import LabelMatcher, MatchOp, filters_for
from tsdb.models import SeriesConfig
from tsdb.store import TimeSeriesStore

PROPERTIES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTIES
@given(steps=operations)
async def test_index_stays_exact_under_random_changes(
    store: TimeSeriesStore, redis_url: str, steps: list[tuple]
) -> None:
    with redis.Redis.from_url(redis_url) as admin:
        admin.flushall()
    await rebuild_index(store.client)
    model = Model({})
    for step in steps:
        await apply(store, model, step)
    await assert_index_matches(store, model)


def _redis_cli(url: str, *args: str) -> str:
    port = url.rsplit(":", 1)[1].split("/")[0]
    cli = server_paths()[0].with_name("redis-cli")
    done = subprocess.run([str(cli), "-p", port, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tsapi(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tsapi", "index", *args],
        env={"TSAPI_REDIS_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_check_finds_and_rebuild_repairs_a_series_created_behind_tsapis_back(
    store: TimeSeriesStore, redis_url: str
) -> None:
    await store.create("known", SeriesConfig(labels={"host": "a"}))
    _redis_cli(redis_url, "TS.CREATE", "stranger", "LABELS", "host", "b", "kind", "odd")
    assert (await store.index.keys()) == ["known"]

    checked = _tsapi(redis_url, "check")
    assert checked.returncode == 1
    assert "1 series missing from the index" in checked.stdout and "stranger" in checked.stdout
    assert "host=b: index 0, actual 1" in checked.stdout

    rebuilt = _tsapi(redis_url, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "2 series" in rebuilt.stdout
    assert _tsapi(redis_url, "check").returncode == 0
    assert await store.index.keys() == ["known", "stranger"]
    assert await label_counts(store, "host") == {"a": 1, "b": 1}


async def test_a_write_to_a_series_made_behind_tsapis_back_indexes_it(
    store: TimeSeriesStore, redis_url: str
) -> None:
    _redis_cli(redis_url, "TS.CREATE", "stranger", "LABELS", "host", "b")
    await store.add_many([("stranger", 1, 1.0)])
    assert (await check_index(store.client)).exact


async def test_check_finds_an_indexed_series_deleted_behind_tsapis_back(
    store: TimeSeriesStore, redis_url: str
) -> None:
    await store.create("gone", SeriesConfig(labels={"host": "a"}))
    _redis_cli(redis_url, "DEL", "gone")
    report = await check_index(store.client)
    assert report.stale == ["gone"] and report.wrong_total == 2 and not report.exact
    await rebuild_index(store.client)
    assert (await check_index(store.client)).exact


async def test_reads_fall_back_to_scanning_while_the_index_is_missing(
    store: TimeSeriesStore, redis_url: str
) -> None:
    await store.create("s1", SeriesConfig(labels={"host": "a"}))
    _redis_cli(redis_url, "DEL", index_prefix() + "meta")
    assert await store.index.state() == IndexState.MISSING
    assert await store.index.names() is None
    assert await store.page(None, 10) == (["s1"], False)
    assert await label_name_counts(store) == {"host": 1}
    await store.prepare()  # what every process does at start-up: rebuilt
    assert await store.index.state() == IndexState.READY


async def test_the_index_survives_redis_being_killed(tmp_path: object) -> None:
    server = EmbeddedRedis(
        port=free_port(),
        data_dir=tmp_path,
        appendfsync="always",
        log_to_file=True,  # type: ignore[arg-type]
    )
    server.start()
    try:
        client = connect(server.url)
        store = TimeSeriesStore(client)
        await store.prepare()
        for i in range(20):
            await store.create(f"k{i}", SeriesConfig(labels={"host": f"h{i % 3}"}))
        await store.add_many([(f"w{i}", 1, 1.0) for i in range(20)], create=True, labels={"a": "b"})
        await store.delete("k0")
        await client.aclose()
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        server.start()
        client = connect(server.url)
        store = TimeSeriesStore(client)
        assert await store.index.state() == IndexState.READY
        assert (await check_index(client)).exact
        assert await store.index.count() == 39
        await client.aclose()
    finally:
        server.stop()


async def test_matchers_resolve_regular_expressions_through_the_index(
    store: TimeSeriesStore,
) -> None:
    for i, (host, dc) in enumerate([("web-1", "eu"), ("web-2", "us"), ("db-1", "eu")]):
        await store.create(f"s{i}", SeriesConfig(labels={"host": host, "dc": dc}))
    await store.create("bare", SeriesConfig(labels={"dc": "eu"}))

    async def select(*matchers: LabelMatcher) -> list[str]:
        filters = await filters_for(store, matchers)
        return [] if filters is None else await store.keys(filters)

    assert await select(LabelMatcher("host", MatchOp.RE, "web-.*")) == ["s0", "s1"]
    assert await select(LabelMatcher("host", MatchOp.RE, "nothing.*")) == []
    assert await select(
        LabelMatcher("dc", MatchOp.EQ, "eu"), LabelMatcher("host", MatchOp.NRE, "web-.*")
    ) == ["bare", "s2"]
    assert await select(
        LabelMatcher("dc", MatchOp.EQ, "eu"), LabelMatcher("host", MatchOp.RE, "|db-1")
    ) == ["bare", "s2"]
    assert await select(
        LabelMatcher("dc", MatchOp.EQ, "eu"), LabelMatcher("host", MatchOp.NE, "")
    ) == ["s0", "s2"]
    with pytest.raises(InvalidQuery):
        await filters_for(store, [LabelMatcher("host", MatchOp.RE, ".*")])
    filters = await filters_for(store, [LabelMatcher("dc", MatchOp.EQ, "eu")])
    assert await label_counts(store, "host", filters) == {"db-1": 1, "web-1": 1}
    assert await label_name_counts(store, filters) == {"dc": 3, "host": 2}


async def test_concurrent_creations_of_the_same_series_count_once(
    store: TimeSeriesStore,
) -> None:
    points = [(f"c{i}", 1, 1.0) for i in range(50)]
    await asyncio.gather(
        *(store.add_many(points, create=True, labels={"host": "h"}) for _ in range(4))
    )
    assert await label_counts(store, "host") == {"h": 50}
    assert (await check_index(store.client)).exact
