"""The data layer on its own, against the real module."""

import pytest

from tsdb.errors import SeriesExists, SeriesNotFound, StoreUnavailable, WriteRejected
from tsdb.faults import RETENTION
from tsdb.models import (
    CHUNK_GROWS_AT,
    LARGE_CHUNK_BYTES,
    SMALL_CHUNK_BYTES,
    Aggregation,
    DuplicatePolicy,
    RangeQuery,
    SeriesConfig,
)
from tsdb.store import TimeSeriesStore


async def test_add_many_spans_series_and_chunks(store: TimeSeriesStore) -> None:
    store.chunk_points = 7
    await store.create("a")
    await store.create("b")
    points = [("b" if i % 3 else "a", 1000 - i, float(i)) for i in range(100)]
    assert (await store.add_many(points)).written == 100
    a = await store.range("a", RangeQuery())
    assert [p[0] for p in a] == sorted(t for k, t, _ in points if k == "a")
    assert len(await store.range("b", RangeQuery())) == 66


async def test_add_many_reports_rejections_with_their_index(store: TimeSeriesStore) -> None:
    await store.create("a", SeriesConfig(duplicate_policy=DuplicatePolicy.BLOCK))
    await store.add_many([("a", 5, 1.0)])
    with pytest.raises(WriteRejected) as caught:
        await store.add_many([("a", 6, 1.0), ("missing", 1, 1.0), ("a", 5, 2.0)])
    assert caught.value.written == 1
    rejected = caught.value.rejections.items
    assert [(r.pos, r.key) for r in rejected] == [(1, "missing"), (2, "a")]
    assert rejected[0].reason == "series does not exist"


async def test_create_twice_and_unknown_series(store: TimeSeriesStore) -> None:
    await store.create("a")
    with pytest.raises(SeriesExists):
        await store.create("a")
    with pytest.raises(SeriesNotFound):
        await store.info("b")
    with pytest.raises(SeriesNotFound):
        await store.range("b", RangeQuery())
    with pytest.raises(SeriesNotFound):
        await store.delete("b")


async def test_duplicate_policy_sum_applies_to_batches(store: TimeSeriesStore) -> None:
    await store.create("a", SeriesConfig(duplicate_policy=DuplicatePolicy.SUM))
    await store.add_many([("a", 1, 1.0), ("a", 1, 2.0), ("a", 1, 3.0)])
    assert await store.range("a", RangeQuery()) == [[1, 6.0]]


async def test_aggregated_range_on_a_compaction(store: TimeSeriesStore) -> None:
    await store.create("a")
    await store.add_many([("a", t, float(t)) for t in range(0, 10_000, 100)])
    result = await store.range(
        "a", RangeQuery(aggregation=Aggregation.MAX, bucket_ms=5000, reverse=True)
    )
    assert result == [[5000, 9900.0], [0, 4900.0]]


async def test_unreachable_redis_raises_store_unavailable() -> None:
    from tests.conftest import free_port
    from tsdb.connection import connect

    client = connect(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    store = TimeSeriesStore(client)
    with pytest.raises(StoreUnavailable):
        await store.range("a", RangeQuery())
    with pytest.raises(StoreUnavailable):
        await store.exists("a")
    await client.aclose()


async def test_samples_dropped_by_the_ignore_filter_are_not_counted_as_written(
    store: TimeSeriesStore,
) -> None:
    config = SeriesConfig(ignore_max_time_diff=1000, ignore_max_val_diff=0.5)
    await store.create("a", config)
    await store.add_many([("a", 1000, 1.2)])
    summary = await store.add_many([("a", 1500, 1.3), ("a", 2000, 5.0), ("a", 2100, 5.1)])
    assert summary.written == 1
    assert [(r.pos, r.t, r.v) for r in summary.ignored.items] == [(0, 1500, 1.3), (2, 2100, 5.1)]
    assert all("IGNORE" in r.reason for r in summary.ignored.items)
    assert await store.range("a", RangeQuery()) == [[1000, 1.2], [2000, 5.0]]


async def test_samples_pushed_out_of_the_retention_window_are_reported(
    store: TimeSeriesStore,
) -> None:
    await store.create("a", SeriesConfig(retention_ms=3_600_000))
    now = 10_000_000
    with pytest.raises(WriteRejected) as caught:
        await store.add_many([("a", now, 1.0), ("a", now - 7_200_000, 2.0)])
    assert caught.value.written == 1
    (gone,) = caught.value.rejections.items
    assert (gone.pos, gone.t, gone.reason) == (1, now - 7_200_000, RETENTION)
    assert await store.range("a", RangeQuery()) == [[now, 1.0]]


async def test_retention_counts_hold_across_commands(store: TimeSeriesStore) -> None:
    store.chunk_points = 3
    await store.create("old", SeriesConfig(retention_ms=100))
    await store.add_many([("old", 500, 0.0)])
    points = [("old", t, float(t)) for t in (420, 450, 550, 600, 620)]
    with pytest.raises(WriteRejected) as caught:
        await store.add_many(points)
    # 420 is refused (older than 500 - 100); 450 is stored, then pushed out by 600
    assert sorted(r.t for r in caught.value.rejections.items) == [420, 450]
    assert caught.value.written == 3
    stored = await store.range("old", RangeQuery())
    assert [p[0] for p in stored] == [550, 600, 620]  # 500, stored before, went too


async def test_series_created_by_tsapi_replace_duplicates_by_default(
    store: TimeSeriesStore,
) -> None:
    await store.create("a")
    assert (await store.info("a")).duplicate_policy == DuplicatePolicy.LAST
    await store.add_many([("a", 1, 1.0)])
    assert (await store.add_many([("a", 1, 2.0)])).written == 1
    assert await store.range("a", RangeQuery()) == [[1, 2.0]]


async def test_upsert_sets_the_value_even_through_an_ignore_filter(store: TimeSeriesStore) -> None:
    config = SeriesConfig(ignore_max_time_diff=1000, ignore_max_val_diff=0.5)
    await store.create("a", config)
    await store.add_many([("a", 3000, 1.2)])
    assert await store.upsert("a", 3000, 1.4) is False
    assert await store.upsert("a", 3400, 1.25) is True  # a plain TS.ADD would be ignored
    assert await store.range("a", RangeQuery()) == [[3000, 1.4], [3400, 1.25]]
    info = await store.info("a")
    assert (info.ignore_max_time_diff, info.ignore_max_val_diff) == (1000, 0.5)


async def test_small_series_get_small_chunks_until_they_grow(store: TimeSeriesStore) -> None:
    await store.add_many([("few", t, 1.0) for t in range(5)], create=True)
    assert (await store.info("few")).chunk_size == SMALL_CHUNK_BYTES
    await store.add_many([("few", t, 1.0) for t in range(5, 5 + CHUNK_GROWS_AT)])
    assert (await store.info("few")).chunk_size == LARGE_CHUNK_BYTES
    await store.add_many([("many", t, 1.0) for t in range(CHUNK_GROWS_AT)], create=True)
    assert (await store.info("many")).chunk_size == LARGE_CHUNK_BYTES
    await store.create("chosen", SeriesConfig(chunk_size=1024))
    await store.add_many([("chosen", t, 1.0) for t in range(CHUNK_GROWS_AT)])
    assert (await store.info("chosen")).chunk_size == 1024
