"""The series index on a 3-shard cluster: one index per primary, exact under random
changes, merged in order at read, and rebuilt when the layout it was built for changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings

from tests.conftest import prepared_store
from tests.tsdb.index_ops import Model, apply, assert_index_matches, operations
from tsdb.index import IndexState
from tsdb.index_build import check_index, ensure_index, rebuild_index
from tsdb.models import SeriesConfig
from tsdb.store import TimeSeriesStore

PROPERTIES = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
async def prepared(cluster_url: str) -> AsyncIterator[TimeSeriesStore]:
    async with prepared_store(cluster_url) as store:
        yield store


@PROPERTIES
@given(steps=operations)
async def test_index_stays_exact_on_a_cluster(
    prepared: TimeSeriesStore, shard_clients: list[redis.Redis], steps: list[tuple]
) -> None:
    for shard in shard_clients:
        shard.flushall()
    await rebuild_index(prepared.client)
    model = Model({})
    for step in steps:
        await apply(prepared, model, step)
    await assert_index_matches(prepared, model)


async def test_each_primary_keeps_the_index_of_its_own_series(
    prepared: TimeSeriesStore, shard_clients: list[redis.Redis]
) -> None:
    keys = [f"s:{i:02d}" for i in range(30)]
    for key in keys:
        await prepared.create(key, SeriesConfig(labels={"n": key[-1]}))
    for shard in shard_clients:
        own = {k for k in shard.scan_iter(_type="TSDB-TYPE")}
        (series_key,) = list(shard.scan_iter(match="tsapi:index:*series"))
        assert own and set(shard.zrange(series_key, 0, -1)) == own
    assert await prepared.index.keys() == keys
    assert await prepared.page("s:10", 5) == (keys[11:16], True)
    assert await prepared.index.values("n") == {str(d): 3 for d in range(10)}


async def test_an_index_built_for_other_slots_is_stale_until_rebuilt(
    prepared: TimeSeriesStore, shard_clients: list[redis.Redis]
) -> None:
    await prepared.create("x", SeriesConfig(labels={"a": "b"}))
    for shard in shard_clients:  # as if slots had moved since the index was built
        for meta in shard.scan_iter(match="tsapi:index:*meta"):
            shard.hset(meta, "slots", "0-1")
    assert await prepared.index.state() == IndexState.STALE
    assert await prepared.page(None, 10) == (["x"], False)  # scanned meanwhile
    assert await ensure_index(prepared.client) is not None
    assert await prepared.index.state() == IndexState.READY
    assert (await check_index(prepared.client)).exact
