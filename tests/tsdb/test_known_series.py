"""Bulk writes skip ``tsapi_ensure`` for series a process knows settled (tsdb/known.py), and
stay truthful when those series change behind the writer's back."""

from __future__ import annotations

import struct
from typing import Any

import hiredis
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import prepared_store
from tsdb import resp
from tsdb.bulk import Batch
from tsdb.errors import WriteRejected
from tsdb.faults import DOES_NOT_EXIST, RETENTION
from tsdb.keys import index_prefix
from tsdb.known import generation_key
from tsdb.models import CHUNK_GROWS_AT, SeriesConfig
from tsdb.resp import encode_compiled, encode_few, encode_many
from tsdb.store import TimeSeriesStore


async def _ensure_calls(store: TimeSeriesStore) -> int:
    stats: dict[str, Any] = await store.client.info("commandstats")
    return int(stats.get("cmdstat_fcall", {}).get("calls", 0))


def _points(key: str, start: int, n: int) -> list[tuple[str, int, float]]:
    return [(key, start + i, float(i)) for i in range(n)]


async def test_a_settled_series_is_written_without_asking_redis_about_it(
    store: TimeSeriesStore,
) -> None:
    await store.add_many(_points("k:settled", 1, CHUNK_GROWS_AT), create=True)  # large chunks
    await store.add_many(_points("k:settled", 1_000, 10), create=True)  # settled now: known
    before = await _ensure_calls(store)
    summary = await store.add_many(_points("k:settled", 2_000, 10), create=True)
    assert summary.written == 10
    assert await _ensure_calls(store) == before
    assert len(await store.client.execute_command("TS.RANGE", "k:settled", "-", "+")) == (
        CHUNK_GROWS_AT + 20
    )


async def test_a_series_deleted_behind_tsapis_back_is_created_again_by_the_next_write(
    store: TimeSeriesStore,
) -> None:
    await store.add_many(_points("k:gone", 1, CHUNK_GROWS_AT), create=True, labels={"a": "b"})
    await store.add_many(_points("k:gone", 1_000, 1), create=True, labels={"a": "b"})
    assert "k:gone" in store.known
    await store.client.delete("k:gone")  # not through tsapi: no generation moves
    summary = await store.add_many(_points("k:gone", 5_000, 3), create=True, labels={"a": "b"})
    assert (summary.written, summary.created) == (3, 1)
    assert await store.client.execute_command("TS.RANGE", "k:gone", "-", "+") == [
        [5_000, 0.0],
        [5_001, 1.0],
        [5_002, 2.0],
    ]
    assert (await store.info("k:gone")).labels == {"a": "b"}


async def test_without_create_a_series_deleted_behind_tsapis_back_is_reported_missing(
    store: TimeSeriesStore,
) -> None:
    await store.add_many(_points("k:gone2", 1, CHUNK_GROWS_AT), create=True)
    await store.add_many(_points("k:gone2", 1_000, 1))
    await store.client.delete("k:gone2")
    try:
        await store.add_many(_points("k:gone2", 5_000, 2))
    except WriteRejected as exc:
        assert exc.written == 0
        assert {r.reason for r in exc.rejections.items} == {DOES_NOT_EXIST}
    else:
        raise AssertionError("points of a missing series were reported written")


async def test_a_retention_set_by_another_process_is_seen_by_the_next_write(
    store: TimeSeriesStore, redis_url: str
) -> None:
    await store.add_many(_points("k:kept", 1, CHUNK_GROWS_AT), create=True)
    await store.add_many(_points("k:kept", 1_000, 1), create=True)
    assert "k:kept" in store.known
    async with prepared_store(redis_url) as other:  # another API process
        await other.alter("k:kept", SeriesConfig(retention_ms=100))
    # written in time order: 1,500 is stored, then 2,000 pushes it out of the 100 ms window
    # (the writer must know the new retention to say so); 1,950 stays.
    try:
        await store.add_many(
            [("k:kept", 1_950, 1.0), ("k:kept", 2_000, 2.0), ("k:kept", 1_500, 0.5)]
        )
    except WriteRejected as exc:
        assert exc.written == 2
        assert [(r.pos, r.reason) for r in exc.rejections.items] == [(2, RETENTION)]
    else:
        raise AssertionError("a point older than the retention window was reported written")
    assert "k:kept" not in store.known


async def test_after_a_flush_the_first_write_starts_a_generation_alters_can_move(
    store: TimeSeriesStore,
) -> None:
    await store.client.flushdb()  # the counter is gone; the functions stay
    await store.add_many(_points("k:g", 1, 3), create=True)
    before = await _generation(store)
    await store.alter("k:g", SeriesConfig(retention_ms=0))
    assert await _generation(store) == before + 1
    await store.delete("k:g")
    assert await _generation(store) == before + 2


async def _generation(store: TimeSeriesStore) -> int:
    value = await store.client.get(generation_key(index_prefix()))
    assert value is not None
    return int(value)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**53), finite), min_size=1, max_size=300)
)
def test_the_sample_writers_agree(
    rows: list[tuple[int, int, float]],
) -> None:
    keys = ["a", "series:b", "c.d-e_f", "x" * 40]
    rows = sorted(rows, key=lambda row: row[0])  # the writer sends a batch by series
    batch = Batch(
        keys,
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.arange(len(rows), dtype=np.int64),
    )
    few_body, few_offsets = encode_few(batch, 0, len(rows))
    many_body, many_offsets = encode_many(batch, 0, len(rows))
    assert bytes(few_body) == bytes(many_body)
    assert few_offsets.tolist() == many_offsets.tolist()
    if not resp.COMPILED:
        return
    # the compiled writer may spell a value otherwise (``3`` for ``3.0``): the same samples,
    # bit for bit, each at its offset, whatever part of the batch is written
    start = len(rows) // 3
    body, offsets = encode_compiled(batch, start, len(rows))
    assert offsets[0] == 0 and offsets[-1] == len(body)
    for i, (code, t, v) in enumerate(rows[start:]):
        reader = hiredis.Reader()
        reader.feed(b"*3\r\n" + bytes(body[offsets[i] : offsets[i + 1]]))
        key, stamp, value = reader.gets()
        assert (key.decode(), int(stamp)) == (keys[code], t)
        assert struct.pack("<d", float(value)) == struct.pack("<d", v)
