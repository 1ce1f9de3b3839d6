"""A delete that would crash RedisTimeSeries 1.12 (the newest samples of a series with
compaction rules, older ones kept) is refused; Redis stays up; other deletes work."""

from __future__ import annotations

import pytest

from tsdb.errors import DeleteRefused
from tsdb.models import Aggregation, Rule, SeriesConfig
from tsdb.store import TimeSeriesStore

BASE = 1_706_702_400_000


async def test_deleting_the_newest_samples_of_a_compacted_series_is_refused(
    store: TimeSeriesStore,
) -> None:
    await store.create("src", SeriesConfig())
    await store.create("dst", SeriesConfig())
    await store.create_rule("src", Rule(dest="dst", bucket_ms=10, aggregation=Aggregation.AVG))
    await store.add_many([("src", BASE + 10 * i, float(i)) for i in range(50)])
    for from_ts, to_ts in ((BASE + 100, None), (BASE + 485, BASE + 490), (BASE + 50, BASE + 10**6)):
        with pytest.raises(DeleteRefused):
            await store.delete_range("src", from_ts, to_ts)
    assert await store.client.ping()  # Redis is still up
    assert await store.delete_range("src", BASE + 100, BASE + 480) == 39  # not the newest
    assert await store.delete_range("src", None, None) == 11  # everything
    assert (await store.info("src")).total_samples == 0
