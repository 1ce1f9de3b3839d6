"""Reading a range page by page, so any number of samples streams in bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from tsdb.models import BucketTimestamp, Point, RangeQuery
from tsdb.store import TimeSeriesStore

__all__ = ["DEFAULT_PAGE", "iter_range", "next_page", "resolve_align"]

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
    while True:
        size = page if remaining is None else min(page, remaining)
        if size <= 0:
            return
        points = await store.range(key, replace(query, count=size))
        if not points:
            return
        yield points
        if remaining is not None:
            remaining -= len(points)
        if len(points) < size:
            return
        following = next_page(query, int(points[-1][0]))
        if following is None:
            return
        query = following


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
