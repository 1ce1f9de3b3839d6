"""The data layer on its own, against the real module."""

import pytest

from tsdb.errors import SeriesExists, SeriesNotFound, StoreUnavailable, WriteRejected
from tsdb.models import Aggregation, DuplicatePolicy, RangeQuery, SeriesConfig
from tsdb.store import TimeSeriesStore


async def test_add_many_spans_series_and_chunks(store: TimeSeriesStore) -> None:
    store.chunk_points = 7
    await store.create("a")
    await store.create("b")
    points = [("b" if i % 3 else "a", 1000 - i, float(i)) for i in range(100)]
    assert await store.add_many(points) == 100
    a = await store.range("a", RangeQuery())
    assert [p[0] for p in a] == sorted(t for k, t, _ in points if k == "a")
    assert len(await store.range("b", RangeQuery())) == 66


async def test_add_many_reports_rejections_with_their_index(store: TimeSeriesStore) -> None:
    await store.create("a", SeriesConfig(duplicate_policy=DuplicatePolicy.BLOCK))
    await store.add_many([("a", 5, 1.0)])
    with pytest.raises(WriteRejected) as caught:
        await store.add_many([("a", 6, 1.0), ("missing", 1, 1.0), ("a", 5, 2.0)])
    assert caught.value.written == 1
    assert [(e.index, e.key) for e in caught.value.rejected] == [(1, "missing"), (2, "a")]
    assert caught.value.rejected[0].reason == "series does not exist"


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
