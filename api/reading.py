"""Reading ranges for the API: choosing buckets for ``max_points``, filling gaps,
transforms, and streaming the answer as JSON or CSV in bounded memory."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from quart import Response, request

from api.responses import dumps, json_response
from api.streaming import streamed_response
from tsdb.errors import InvalidQuery
from tsdb.models import (
    Aggregation,
    BucketTimestamp,
    MultiRangeQuery,
    Point,
    RangeQuery,
    SeriesPoints,
)
from tsdb.paging import count_samples, data_bounds, next_page, resolve_align
from tsdb.rollups.config import load_rollups
from tsdb.rollups.models import TierChoice
from tsdb.rollups.plan import RAW, friendly_bucket
from tsdb.rollups.read import TieredRead, open_read, open_reads
from tsdb.rollups.read import count_samples as tiered_count
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import parse_duration
from tsdb.transforms import (
    Apply,
    Edges,
    Fill,
    FillPolicy,
    Function,
    Rows,
    Transform,
    finish,
    pipeline,
)

__all__ = ["ReadOptions", "multi_series_response", "plan", "single_series_response"]

CSV = "text/csv"
MAX_EMPTY_BUCKETS = 1_000_000
MRANGE_POINTS = 500_000
"""Rows a multi-series answer may hold to come from one TS.MRANGE (no per-series round trip
and Python work); larger answers are streamed series by series in bounded memory."""


@dataclass(frozen=True)
class ReadOptions:
    """What the API adds on top of the module's range options."""

    max_points: int | None = None
    fill: FillPolicy | None = None
    fn: Function | None = None
    csv: bool = False
    limit: int | None = None
    cursor: int | None = None
    default_max_points: int = 2000
    tier: TierChoice = TierChoice.AUTO

    def transforms(self, query: RangeQuery | None = None) -> list[Transform]:
        """Fresh transform state for one series read by ``query`` (once aligned): empty
        buckets reach the requested bounds when they are given, then fill, then fn."""
        steps: list[Transform] = []
        if query is not None and query.empty and self.limit is None and self.cursor is None:
            edges = _edges(query)
            if edges is not None:
                steps.append(edges)
        if self.fill is not None:
            steps.append(Fill(self.fill))
        if self.fn is not None:
            steps.append(Apply(self.fn))
        return steps


def _edges(query: RangeQuery) -> Edges | None:
    """The :class:`Edges` step of an aggregated EMPTY query, if it has a bound to reach."""
    if query.aggregation is None or not query.bucket_ms:
        return None
    if query.from_ts is None and query.to_ts is None:
        return None
    bucket = int(query.bucket_ms)
    align = query.align if isinstance(query.align, int) else 0
    offset = {BucketTimestamp.END: bucket, BucketTimestamp.MID: bucket // 2}.get(
        query.bucket_timestamp or BucketTimestamp.START, 0
    )
    return Edges(query.from_ts, query.to_ts, bucket, align, offset, query.reverse)


def wants_csv(format_param: str | None) -> bool:
    """CSV when asked by ``format=csv`` or an Accept header preferring text/csv."""
    if format_param is not None:
        return format_param == "csv"
    best = request.accept_mimetypes.best_match(["application/json", CSV])
    return (
        best == CSV and request.accept_mimetypes[CSV] > request.accept_mimetypes["application/json"]
    )


async def plan(
    store: TimeSeriesStore,
    keys: Sequence[str],
    query: RangeQuery,
    options: ReadOptions,
    filters: Sequence[str] | None = None,
) -> RangeQuery:
    """Pick the bucket when ``max_points`` asks for it (or an aggregation comes without one).

    With an aggregation and no bucket, the bucket is the range split into ``max_points``
    (default 2,000). With ``max_points`` and no aggregation, raw samples are returned when
    they fit, else ``avg`` buckets. Buckets then start at the range's start; when the series
    have rollup tiers, the bucket is rounded up to a multiple of the coarsest tier bucket that
    fits and buckets start on that tier's grid, so that the tier can serve the read.
    """
    if options.fill is not None and query.aggregation is None:
        raise InvalidQuery("fill applies to aggregated buckets: add agg (and bucket or max_points)")
    if options.fn is not None and query.reverse:
        raise InvalidQuery("fn is computed oldest first: it cannot be combined with reverse")
    if options.fill is not None:
        query = replace(query, empty=True)
    query = await _planned_bucket(store, keys, query, options, filters)
    if query.empty and query.aggregation is not None and query.bucket_ms:
        bounds = await _bounds(store, keys, query.from_ts, query.to_ts, filters)
        if bounds and (bounds[1] - bounds[0]) // query.bucket_ms > MAX_EMPTY_BUCKETS:
            # too many empty buckets to report: widen the bucket (the answer's bucket_ms)
            span = bounds[1] - bounds[0] + 1
            query = replace(query, bucket_ms=math.ceil(span / MAX_EMPTY_BUCKETS))
    return query


async def _bounds(
    store: TimeSeriesStore,
    keys: Sequence[str],
    start: int | None,
    end: int | None,
    filters: Sequence[str] | None,
) -> tuple[int, int] | None:
    """Concrete bounds of a read: of the series ``filters`` select in two commands, else of
    ``keys`` one by one."""
    if filters and (start is None or end is None):
        found = await store.bounds_matching(filters)
        if found is None:
            return None
        low = start if start is not None else found[0]
        high = end if end is not None else found[1]
        return (low, high) if low <= high else None
    return await data_bounds(store, keys, start, end)


async def _planned_bucket(
    store: TimeSeriesStore,
    keys: Sequence[str],
    query: RangeQuery,
    options: ReadOptions,
    filters: Sequence[str] | None = None,
) -> RangeQuery:
    max_points = options.max_points
    if query.aggregation is not None and query.bucket_ms is None:
        max_points = max_points or options.default_max_points
    if max_points is None or (query.aggregation is not None and query.bucket_ms is not None):
        if options.max_points is not None and query.bucket_ms is not None:
            raise InvalidQuery("give either bucket or max_points, not both")
        return query
    bounds = await _bounds(store, keys, query.from_ts, query.to_ts, filters)
    if bounds is None:  # no data: nothing to size the bucket on
        if query.aggregation is None:
            return query
        return replace(query, bucket_ms=query.bucket_ms or 1)
    low, high = bounds
    if query.aggregation is None:
        if filters:  # many series: one TS.MRANGE counts them all
            counts = list((await store.sample_counts(filters, low, high, query)).values())
        else:
            count = count_samples if options.tier == TierChoice.RAW else tiered_count  # ROLLUPS
            counts = await asyncio.gather(*(count(store, k, low, high, query) for k in keys))
        if max(counts, default=0) <= max_points:
            return query
        query = replace(query, aggregation=Aggregation.AVG)
    bucket = max(1, math.ceil((high - low + 1) / max_points))
    align = query.align if query.align is not None else low
    if query.align is None and options.tier != TierChoice.RAW:  # ROLLUPS: a bucket tiers serve
        assert query.aggregation is not None
        friendly = await _tier_bucket(store, keys, low, high, max_points, query.aggregation)
        bucket, align = friendly or (bucket, align)
    return replace(query, from_ts=low, to_ts=high, bucket_ms=bucket, align=align)


async def _tier_bucket(
    store: TimeSeriesStore,
    keys: Sequence[str],
    low: int,
    high: int,
    max_points: int,
    aggregation: Aggregation,
) -> tuple[int, int] | None:
    """A bucket and alignment the tiers of ``keys`` can serve (those they all have, else
    any), or None."""
    found = await load_rollups(store.client, keys)
    if not found:
        return None
    sets = [set(r.tiers) for r in found.values()]
    shared = set.intersection(*sets) if len(sets) == len(keys) else set()
    tiers = sorted(shared or set.union(*sets))
    return friendly_bucket(tiers, low, high, max_points, aggregation)


def _meta(
    query: RangeQuery, options: ReadOptions, tiers: Sequence[str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if query.aggregation is not None:
        meta["aggregation"] = query.aggregation
        meta["bucket_ms"] = query.bucket_ms
        if tiers is not None:
            meta["tiers"] = list(tiers)
    if options.fill is not None:
        meta["fill"] = options.fill
    if options.fn is not None:
        meta["fn"] = options.fn
    return meta


def _csv_rows(rows: Sequence[Sequence[Any]], prefix: str = "") -> bytes:
    """``t,v`` lines (``key,t,v`` with a prefix); an empty or NaN value is an empty cell.

    One orjson call per page and a few byte replaces: five times faster than a format string
    per row, which made CSV the slowest way to read a range.
    """
    if not rows:
        return b""
    head = prefix.encode()
    body = orjson.dumps(rows)[2:-2].replace(b"],[", b"\n" + head).replace(b",null\n", b",\n")
    if body.endswith(b",null"):
        body = body[:-4]
    return head + body + b"\n"


def _json_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    return orjson.dumps(rows)[1:-1]  # NaN becomes null


async def _pages(read: TieredRead, options: ReadOptions) -> AsyncIterator[Rows]:
    transforms = options.transforms(read.query)
    async for page in read.pages():
        rows = pipeline(transforms, page)
        if rows:
            yield rows
    tail = finish(transforms)
    if tail:
        yield tail


async def _first(
    pages: AsyncIterator[Rows],
) -> tuple[Rows | None, AsyncIterator[Rows]]:
    """Read the first page before answering, so errors (unknown series, bad query) are still
    a proper problem response rather than a broken stream."""
    try:
        first = await anext(pages)
    except StopAsyncIteration:
        return None, pages
    return first, pages


async def _chained(first: Rows, rest: AsyncIterator[Rows]) -> AsyncIterator[Rows]:
    yield first
    async for rows in rest:
        yield rows


async def single_series_response(
    store: TimeSeriesStore, key: str, query: RangeQuery, options: ReadOptions
) -> Response:
    """One series' range: streamed, or one page with a ``next`` cursor when ``limit`` is set."""
    query = resolve_align(await plan(store, [key], query, options))
    if options.cursor is not None:
        if query.reverse:
            query = replace(query, to_ts=options.cursor)
        else:
            query = replace(query, from_ts=options.cursor)
    if options.cursor is not None and _crossed(query):  # a cursor past the range's other end
        if options.csv:
            return Response(b"t,v\n", mimetype=CSV)
        return json_response({"key": key, **_meta(query, options), "points": [], "next": None})
    read = await open_read(store, key, query, options.tier)  # ROLLUPS: which tiers serve it
    meta = _meta(query, options, read.served)
    headers = _tier_header(query, read.served)
    if options.limit is not None:
        return await _one_page(store, key, query, options, meta, headers)
    first, pages = await _first(_pages(read, options))
    second, pages = await _first(pages)
    if second is None:  # one page: answered in one piece (a streamed body costs more sends)
        mimetype = CSV if options.csv else "application/json"
        if options.csv:
            whole = b"t,v\n" + _csv_rows(first or [])
            return Response(whole, mimetype=mimetype, headers=headers)
        head = dumps({"key": key, **meta})[:-1] + b',"points":['
        whole = head + (_json_rows(first) if first else b"") + b"]}"
        return Response(whole, mimetype=mimetype, headers=headers)
    pages = _chained(second, pages)

    async def body() -> AsyncIterator[bytes]:
        if options.csv:
            yield b"t,v\n"
            if first:
                yield _csv_rows(first)
            async for rows in pages:
                yield _csv_rows(rows)
            return
        yield dumps({"key": key, **meta})[:-1] + b',"points":['
        separator = b""
        if first:
            yield _json_rows(first)
            separator = b","
        async for rows in pages:
            yield separator + _json_rows(rows)
            separator = b","
        yield b"]}"

    return streamed_response(body(), csv=options.csv, headers=headers)


def _tier_header(query: RangeQuery, served: Sequence[str]) -> dict[str, str] | None:
    """``X-Tiers``: which tiers served an aggregated read (for CSV answers too)."""
    return {"X-Tiers": ",".join(served)} if query.aggregation is not None else None


def _crossed(query: RangeQuery) -> bool:
    return query.from_ts is not None and query.to_ts is not None and query.from_ts > query.to_ts


async def _one_page(
    store: TimeSeriesStore,
    key: str,
    query: RangeQuery,
    options: ReadOptions,
    meta: dict[str, Any],
    tier_headers: dict[str, str] | None = None,
) -> Response:
    limit = int(options.limit or 0)
    points: list[Point] = []
    read = await open_read(store, key, replace(query, count=limit), options.tier)
    async for page in read.pages():
        points.extend(page)
    transforms = options.transforms(query)
    rows = [*pipeline(transforms, points), *finish(transforms)]
    following = next_page(query, int(points[-1][0])) if len(points) == limit else None
    cursor = None
    if following is not None:
        cursor = following.to_ts if query.reverse else following.from_ts
    if options.csv:
        headers = {"X-Next-Cursor": str(cursor)} if cursor is not None else {}
        headers.update(tier_headers or {})
        return Response(b"t,v\n" + _csv_rows(rows), mimetype=CSV, headers=headers)
    return json_response({"key": key, **meta, "points": rows, "next": cursor}, headers=tier_headers)


async def multi_series_response(
    store: TimeSeriesStore, query: MultiRangeQuery, options: ReadOptions
) -> Response:
    """Every series a filter selects, streamed series by series (GROUPBY in one piece)."""
    if options.limit is not None or options.cursor is not None:
        raise InvalidQuery("limit/cursor paging is for one series; use count per series here")
    if (query.group_by is None) != (query.reducer is None):
        raise InvalidQuery("group_by and reduce go together: give both or neither")
    if query.group_by is not None:
        return await _grouped(store, query, options)
    keys = await store.keys(query.filters)
    planned = (
        resolve_align(await plan(store, keys, query.range, options, query.filters))
        if keys
        else query.range
    )
    reads = await open_reads(store, keys, planned, options.tier)  # ROLLUPS
    raw_only = all(read.tiers is None for read in reads)
    if keys and raw_only and await _fits_one_reply(store, query.filters, planned, len(keys)):
        return _whole(await store.mrange(replace(query, range=planned)), planned, options)
    labels: dict[str, dict[str, str]] = {}
    if query.with_labels or query.selected_labels:
        labels = await store.labels_of(keys)
        if query.selected_labels:
            wanted = set(query.selected_labels)
            labels = {k: {n: v for n, v in ls.items() if n in wanted} for k, ls in labels.items()}
    if keys:  # check the query before the answer starts: errors must not break a stream
        await store.range(keys[0], replace(planned, count=1))
    meta = _meta(planned, options)
    served = sorted({name for read in reads for name in read.served}, key=_coarsest_first)

    async def body() -> AsyncIterator[bytes]:
        if options.csv:
            yield b"key,t,v\n"
        else:
            yield dumps(meta)[:-1] + (b"," if meta else b"") + b'"series":['
        for index, (key, read) in enumerate(zip(keys, reads, strict=True)):
            pages = _pages(read, options)
            if options.csv:
                async for rows in pages:
                    yield _csv_rows(rows, f"{key},")
                continue
            head = dumps({"key": key, "labels": labels.get(key, {}), **_served(read)})[:-1]
            yield (b"," if index else b"") + head + b',"points":['
            separator = b""
            async for rows in pages:
                yield separator + _json_rows(rows)
                separator = b","
            yield b"]}"
        if not options.csv:
            yield b"]}"

    headers = _tier_header(planned, served) if keys else None
    return streamed_response(body(), csv=options.csv, headers=headers)


def _served(read: TieredRead) -> dict[str, list[str]]:
    """A series' ``tiers`` member, for aggregated reads."""
    return {"tiers": list(read.served)} if read.query.aggregation is not None else {}


def _coarsest_first(name: str) -> tuple[int, int]:
    """Sort key of tier names: raw last, then by bucket, widest first."""
    if name == RAW:
        return (1, 0)
    return (0, -parse_duration(name))


async def _fits_one_reply(
    store: TimeSeriesStore, filters: Sequence[str], query: RangeQuery, series: int
) -> bool:
    """True when the answer for ``series`` series surely holds at most MRANGE_POINTS rows, so
    that one TS.MRANGE can bring it all (else series are streamed one at a time)."""
    per_series: int | None = query.count
    if (
        query.aggregation is not None
        and query.bucket_ms
        and query.from_ts is not None
        and query.to_ts is not None
    ):
        buckets = (query.to_ts - query.from_ts) // query.bucket_ms + 2
        per_series = min(per_series or buckets, buckets)
    if per_series is not None:
        return series * per_series <= MRANGE_POINTS
    if query.empty:
        return False
    counts = await store.sample_counts(filters, query.from_ts, query.to_ts)
    return sum(counts.values()) <= MRANGE_POINTS


def _whole(result: Sequence[SeriesPoints], query: RangeQuery, options: ReadOptions) -> Response:
    """The answer of one TS.MRANGE (raw samples: no series has a tier that serves it), with
    the transforms applied per series."""
    series = []
    for item in result:
        transforms = options.transforms(query)
        rows = [*pipeline(transforms, item.points), *finish(transforms)]
        series.append((item.key, item.labels, rows))
    headers = _tier_header(query, [RAW])
    if options.csv:
        body = b"key,t,v\n" + b"".join(_csv_rows(rows, f"{key},") for key, _, rows in series)
        return Response(body, mimetype=CSV, headers=headers)
    served = {"tiers": [RAW]} if query.aggregation is not None else {}
    return json_response(
        {
            **_meta(query, options),
            "series": [
                {"key": k, "labels": ls, **served, "points": rows} for k, ls, rows in series
            ],
        },
        headers=headers,
    )


async def _grouped(
    store: TimeSeriesStore, query: MultiRangeQuery, options: ReadOptions
) -> Response:
    keys = await store.keys(query.filters)
    if not keys:  # nothing to group (TS.MRANGE would check the range as if there were)
        return json_response({**_meta(query.range, options), "series": []})
    planned = await plan(store, keys, query.range, options, query.filters)
    aligned = resolve_align(planned)
    result = await store.mrange(replace(query, range=aligned))
    series = []
    for item in result:
        transforms = options.transforms(aligned)
        rows = [*pipeline(transforms, item.points), *finish(transforms)]
        series.append((item.key, item.labels, rows))
    if options.csv:
        body = b"key,t,v\n" + b"".join(_csv_rows(rows, f"{key},") for key, _, rows in series)
        return Response(body, mimetype=CSV)
    return json_response(
        {
            **_meta(planned, options, [RAW]),  # GROUPBY/REDUCE: TS.MRANGE on raw samples
            "series": [{"key": k, "labels": ls, "points": rows} for k, ls, rows in series],
        }
    )
