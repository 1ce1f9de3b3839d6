"""Reading ranges: page by page (any number of samples in bounded memory), as numpy arrays,
and the bounds and sample counts that planning a read needs. The API and the jobs share
these."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from tsdb.faults import domain_error, translate
from tsdb.keys import validate_key
from tsdb.models import Aggregation, BucketTimestamp, Point, RangeQuery, SeriesInfo
from tsdb.store import TimeSeriesStore

__all__ = [
    "DEFAULT_PAGE",
    "bounds_of",
    "count_query",
    "count_samples",
    "data_bounds",
    "iter_arrays",
    "iter_range",
    "next_page",
    "read_arrays",
    "resolve_align",
]

Times = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]

DEFAULT_PAGE = 50_000


def resolve_align(query: RangeQuery) -> RangeQuery:
    """Turn ``align=start|end`` into the timestamp it means, so pages keep the same buckets."""
    if query.align == "start" and query.from_ts is not None:
        return replace(query, align=query.from_ts)
    if query.align == "end" and query.to_ts is not None:
        return replace(query, align=query.to_ts)
    return query


def _bucket_start(t: int, query: RangeQuery) -> int:
    width = int(query.bucket_ms or 0)
    if query.bucket_timestamp == BucketTimestamp.END:
        return t - width
    if query.bucket_timestamp == BucketTimestamp.MID:
        return t - width // 2
    return t


async def iter_range(
    store: TimeSeriesStore, key: str, query: RangeQuery, page: int = DEFAULT_PAGE
) -> AsyncIterator[list[Point]]:
    """Yield the answer to ``query`` in pages of at most ``page`` samples (or buckets).

    ``query.count`` still caps the total. Each page is one TS.RANGE/TS.REVRANGE that
    resumes after the previous one, so the server does the seeking and nothing is held
    beyond a page.
    """
    query = resolve_align(query)
    if query.aggregation is not None and query.empty:
        # EMPTY only reports empty buckets between samples of the same call, so a page
        # boundary would swallow a gap: aggregated EMPTY ranges come in one piece (the API
        # caps how many buckets they may hold).
        points = await store.range(key, query)
        if points:
            yield points
        return
    remaining = query.count
    size = page if remaining is None else min(page, remaining)
    if size <= 0:
        return
    pending: asyncio.Future[list[Point]] | None = asyncio.ensure_future(
        _read_page(store, key, replace(query, count=size))
    )
    try:
        while pending is not None:
            points = await pending
            pending = None
            if not points:
                return
            if remaining is not None:
                remaining -= len(points)
            following = next_page(query, int(points[-1][0])) if len(points) == size else None
            if following is not None:
                query = following
                size = page if remaining is None else min(page, remaining)
                if size > 0:  # Redis prepares the next page while this one is used
                    pending = asyncio.ensure_future(
                        _read_page(store, key, replace(query, count=size))
                    )
            yield points
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


async def _read_page(store: TimeSeriesStore, key: str, query: RangeQuery) -> list[Point]:
    """One page; the cyclic garbage collector waits meanwhile (a page is 50,000 new lists,
    which would otherwise set off several collections for nothing)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return await store.range(key, query)
    finally:
        if enabled:
            gc.enable()


def next_page(query: RangeQuery, last: int) -> RangeQuery | None:
    """The query for what follows a page whose last sample (or bucket) was at ``last``;
    None when nothing can follow."""
    if query.aggregation is not None:
        start = _bucket_start(last, query)
        if query.reverse:
            query = replace(query, to_ts=start - 1)
        else:
            query = replace(query, from_ts=start + int(query.bucket_ms or 0))
    elif query.reverse:
        query = replace(query, to_ts=last - 1)
    else:
        query = replace(query, from_ts=last + 1)
    if query.to_ts is not None and (
        query.to_ts < 0 or (query.from_ts is not None and query.from_ts > query.to_ts)
    ):
        return None
    return query


async def iter_arrays(
    store: TimeSeriesStore, key: str, query: RangeQuery, page: int = DEFAULT_PAGE
) -> AsyncIterator[tuple[Times, Values]]:
    """:func:`iter_range` with each page as ``(t, v)`` numpy arrays."""
    async for points in iter_range(store, key, query, page):
        array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        yield array[:, 0].astype(np.int64), np.ascontiguousarray(array[:, 1])


async def read_arrays(
    store: TimeSeriesStore, key: str, query: RangeQuery, page: int = DEFAULT_PAGE
) -> tuple[Times, Values]:
    """The whole answer to ``query`` as two arrays, read page by page."""
    pages = [p async for p in iter_arrays(store, key, query, page)]
    if not pages:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return np.concatenate([t for t, _ in pages]), np.concatenate([v for _, v in pages])


async def data_bounds(
    store: TimeSeriesStore, keys: Sequence[str], start: int | None, end: int | None
) -> tuple[int, int] | None:
    """Concrete bounds: the given ones, or the first/last sample over ``keys``; None if no data."""
    if start is not None and end is not None:
        return start, end
    # the first and the newest sample of each, in one pipeline (TS.INFO would do, but it walks
    # every chunk of a series: 1.5 ms for a year of per-second samples)
    pipe = store.client.pipeline(transaction=False)
    for key in keys:
        validate_key(key)
        pipe.execute_command("TS.RANGE", key, "-", "+", "COUNT", 1)
        pipe.execute_command("TS.REVRANGE", key, "-", "+", "COUNT", 1)
    with translate():
        ends = await pipe.execute(raise_on_error=False)
    for key, reply in zip([k for k in keys for _ in (0, 1)], ends, strict=True):
        if isinstance(reply, Exception):
            raise domain_error(reply, key=key)
    firsts = [int(p[0][0]) for p in ends[::2] if p]
    lasts = [int(p[0][0]) for p in ends[1::2] if p]
    if not firsts:
        return None
    low = start if start is not None else min(firsts)
    high = end if end is not None else max(lasts)
    return (low, high) if low <= high else None


def bounds_of(
    infos: Sequence[SeriesInfo], start: int | None, end: int | None
) -> tuple[int, int] | None:
    """Concrete bounds from series infos: the given ones, else their first/last samples."""
    if start is not None and end is not None:
        return start, end
    firsts = [i.first_timestamp for i in infos if i.first_timestamp is not None]
    lasts = [i.last_timestamp for i in infos if i.last_timestamp is not None]
    if not firsts:
        return None
    low = start if start is not None else min(firsts)
    high = end if end is not None else max(lasts)
    return (low, high) if low <= high else None


async def count_samples(
    store: TimeSeriesStore, key: str, start: int, end: int, query: RangeQuery | None = None
) -> int:
    """How many samples of ``key`` in [start, end] (that pass ``query``'s value and time
    filters) there are, counted by the server in one bucket."""
    return int(sum(b[1] for b in await store.range(key, count_query(start, end, query))))


def count_query(start: int, end: int, query: RangeQuery | None = None) -> RangeQuery:
    """``query``'s filters with one COUNT bucket over [start, end]."""
    return replace(
        query or RangeQuery(),
        from_ts=start,
        to_ts=end,
        aggregation=Aggregation.COUNT,
        bucket_ms=end - start + 1,
        align=start,
        bucket_timestamp=None,
        empty=False,
        count=None,
        reverse=False,
    )
