"""Answering aggregated reads from tiers: the same buckets and values as the raw samples give.

:func:`open_read` decides, for one series and one query, which tiers serve which part of the
range (:mod:`tsdb.rollups.plan`) and says so (:attr:`TieredRead.served`); its pages come
window by window (:data:`WINDOW` requested buckets at a time), each window read in one
``MULTI`` (tiers and raw samples seen at one instant) and merged here
(:mod:`tsdb.rollups.compose`). Queries tiers cannot serve (``twa``, value or time filters, a
bucket layout off every tier's grid, a series without tiers, ``tier=raw``) read raw samples
exactly as before (:func:`tsdb.paging.iter_range`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from redis.asyncio import RedisCluster

from tsdb.faults import translate
from tsdb.keys import rollup_state_key, rollups_index_key
from tsdb.models import Aggregation, BucketTimestamp, Point, RangeQuery
from tsdb.paging import DEFAULT_PAGE, count_query, iter_range, resolve_align
from tsdb.rollups.compose import NEEDS, OVER_TIER, Partial, by_rows, merge
from tsdb.rollups.config import SeriesTiers, TierState, decode_rollups, part_key, states_of
from tsdb.rollups.models import Part, TierChoice
from tsdb.rollups.plan import RAW, Piece, pieces, tiers_may_serve, usable
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import MAX_TIMESTAMP

__all__ = [
    "WINDOW",
    "TierChoice",
    "TieredRead",
    "count_samples",
    "iter_tiered_arrays",
    "open_read",
    "open_reads",
    "tiered_range",
]

log = logging.getLogger(__name__)

WINDOW = DEFAULT_PAGE
"""Requested buckets read and merged at a time."""
OPENING = 8
"""Series with tiers whose reads :func:`open_reads` prepares at a time (connections)."""
ATTEMPTS = 3


@dataclass
class TieredRead:
    """One series' answer to one query: which tiers serve it, and its pages."""

    store: TimeSeriesStore
    key: str
    query: RangeQuery
    served: tuple[str, ...]
    tiers: SeriesTiers | None = None
    states: tuple[TierState, ...] = ()
    start: int = 0
    end: int = -1
    data: tuple[int, int] | None = None
    """First and last time holding data (raw or tiers): nothing lies outside."""

    async def pages(self, page: int = DEFAULT_PAGE) -> AsyncIterator[list[Point]]:
        """The answer in pages of at most ``page`` buckets, as :func:`iter_range` gives it."""
        if self.tiers is None:
            async for points in iter_range(self.store, self.key, self.query, page):
                yield points
            return
        if self.query.empty:
            rows = await self._with_empty()
            for first in range(0, len(rows), page):
                yield rows[first : first + page]
            return
        remaining = self.query.count
        async for k, values in self._windows():
            rows = self._rows(k, values)
            if self.query.reverse:
                rows.reverse()
            if remaining is not None:
                rows = rows[:remaining]
                remaining -= len(rows)
            for first in range(0, len(rows), page):
                yield rows[first : first + page]
            if remaining == 0:
                return

    # -- windows --------------------------------------------------------------------------------

    async def _windows(self) -> AsyncIterator[tuple[Any, Any]]:
        bucket, align = int(self.query.bucket_ms or 0), int(self.query.align or 0)
        first, last = (self.start - align) // bucket, (self.end - align) // bucket
        starts = list(range(first, last + 1, WINDOW))
        if self.query.reverse:
            starts.reverse()
        for k0 in starts:
            k1 = min(last, k0 + WINDOW - 1)
            start = max(self.start, align + k0 * bucket)
            end = min(self.end, align + (k1 + 1) * bucket - 1)
            yield await self._window(start, end)

    async def _window(self, start: int, end: int) -> tuple[Any, Any]:
        aggregation = self._merged_as()
        for _ in range(ATTEMPTS):
            chosen = usable(self.states, self.query, self.start, self.end)
            plan = pieces(start, end, chosen, self.data)
            fetched = await self._fetch(plan, start, end)
            if fetched is not None:
                return merge(fetched, aggregation)
            await self._refresh()
        log.warning("tiers of %s kept changing during a read: raw samples answer", self.key)
        fetched = await self._fetch([Piece(None, start, end)], start, end)
        assert fetched is not None
        return merge(fetched, aggregation)

    def _merged_as(self) -> Aggregation:
        """The aggregator to merge with: TS.REVRANGE walks a bucket newest first, so its
        ``first`` is the newest sample and its ``last`` the oldest."""
        aggregation = self.query.aggregation
        assert aggregation is not None
        if self.query.reverse:
            swap = {Aggregation.FIRST: Aggregation.LAST, Aggregation.LAST: Aggregation.FIRST}
            return swap.get(aggregation, aggregation)
        return aggregation

    async def _refresh(self) -> None:
        fresh = await _series_tiers(self.store, self.key)
        self.tiers = fresh or self.tiers
        self.states = fresh.states if fresh is not None else ()

    async def _fetch(self, plan: Sequence[Piece], start: int, end: int) -> list[Partial] | None:
        """Read every piece of the window ``[start, end]`` in one transaction; None if the
        tiers changed since planned."""
        parts = NEEDS[self._merged_as()]
        client = self.store.client
        pipe = client.pipeline(transaction=not isinstance(client, RedisCluster))
        tiers = [p.state for p in plan if p.state is not None]
        state_key = rollup_state_key(self.key)
        pipe.hget(state_key, "version")
        pipe.hmget(state_key, [f"hi:{s.tier.bucket_ms}" for s in tiers] or ["version"])
        for piece in plan:
            for command in self._commands(piece, parts):
                pipe.execute_command(*command)
        with translate(key=self.key):
            replies = await pipe.execute()
        version, his, data = replies[0], replies[1], replies[2:]
        if tiers and not self._unchanged(version, his, plan):
            return None
        partials: list[Partial] = []
        offset = 0
        bucket, align = int(self.query.bucket_ms or 0), int(self.query.align or 0)
        window = ((start - align) // bucket, (end - align) // bucket)
        for piece in plan:
            count = len(self._commands(piece, parts))
            partial = self._partial(piece, parts, data[offset : offset + count], window)
            if partial is None:
                return None
            partials.append(partial)
            offset += count
        return partials

    def _unchanged(self, version: Any, his: Sequence[Any], plan: Sequence[Piece]) -> bool:
        if self.tiers is None or version is None or int(version) != self.tiers.version:
            return False
        served = [p for p in plan if p.state is not None]
        for piece, hi in zip(served, his, strict=True):
            assert piece.state is not None
            if hi is None or int(hi) < 0:
                return False
            now = replace(piece.state, hi=int(hi))
            kept = now.kept_from
            if kept is None or kept > piece.start:
                return False  # the tier's retention dropped buckets meanwhile
        return True

    def _commands(self, piece: Piece, parts: Sequence[Part]) -> list[tuple[Any, ...]]:
        query = self.query
        assert query.aggregation is not None
        bucket, align = int(query.bucket_ms or 0), int(query.align or 0)
        window = (piece.start, piece.end)
        if piece.state is None:
            return [
                ("TS.RANGE", self.key, *window, "ALIGN", align, "AGGREGATION", p.value, bucket)
                for p in parts
            ]
        tier = piece.state.tier
        if by_rows(query.aggregation):
            return [("TS.RANGE", part_key(self.key, tier, p), *window) for p in parts]
        return [
            (
                "TS.RANGE",
                part_key(self.key, tier, p),
                *window,
                "ALIGN",
                align,
                "AGGREGATION",
                OVER_TIER[p],
                bucket,
            )
            for p in parts
        ]

    def _partial(
        self,
        piece: Piece,
        parts: Sequence[Part],
        replies: Sequence[Any],
        window: tuple[int, int],
    ) -> Partial | None:
        """A piece's rows with the requested bucket of each: a tier bucket reaching before
        the window (or after) holds only data inside it (see :func:`pieces`)."""
        arrays = [np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in replies]
        if any(len(a) != len(arrays[0]) for a in arrays):
            return None  # parts out of step: never left so by the functions, but be safe
        bucket, align = int(self.query.bucket_ms or 0), int(self.query.align or 0)
        times = arrays[0][:, 0].astype(np.int64)
        values = {p: a[:, 1] for p, a in zip(parts, arrays, strict=True)}
        return Partial(np.clip((times - align) // bucket, *window), values)

    # -- rows -----------------------------------------------------------------------------------

    def _stamp(self, k: Any) -> Any:
        bucket, align = int(self.query.bucket_ms or 0), int(self.query.align or 0)
        stamp = self.query.bucket_timestamp or BucketTimestamp.START
        offset = {BucketTimestamp.END: bucket, BucketTimestamp.MID: bucket // 2}.get(stamp, 0)
        return np.maximum(align + k * bucket, 0) + offset

    def _rows(self, k: Any, values: Any) -> list[Point]:
        return list(zip(self._stamp(k).tolist(), values.tolist(), strict=True))

    async def _with_empty(self) -> list[Point]:
        """Every bucket from the first to the last that has samples, as EMPTY gives them."""
        ks, vs = [], []
        async for k, values in self._windows():
            ks.append(k)
            vs.append(values)
        if not ks or not sum(len(k) for k in ks):
            return []
        k = np.concatenate(ks)
        values = np.concatenate(vs)
        order = np.argsort(k)
        k, values = k[order], values[order]
        full = np.arange(k[0], k[-1] + 1, dtype=np.int64)
        aggregation = self.query.aggregation
        blank = 0.0 if aggregation in (Aggregation.SUM, Aggregation.COUNT) else np.nan
        filled = np.full(len(full), blank)
        filled[k - k[0]] = values
        present = np.zeros(len(full), dtype=bool)
        present[k - k[0]] = True
        if self.query.reverse:
            full, filled, present = full[::-1], filled[::-1], present[::-1]
        if aggregation == Aggregation.LAST:  # an empty bucket repeats the one before it
            index = np.where(present, np.arange(len(full)), 0)
            np.maximum.accumulate(index, out=index)
            filled = filled[index]
        rows = self._rows(full, filled)
        if self.query.count is not None:
            rows = rows[: self.query.count]
        return rows


async def _series_tiers(store: TimeSeriesStore, key: str) -> SeriesTiers | None:
    client = store.client
    with translate():
        pipe = client.pipeline(transaction=False)
        pipe.hget(rollups_index_key(), key)
        pipe.hgetall(rollup_state_key(key))
        raw, state = await pipe.execute()
    if raw is None or not state:
        return None
    return states_of(decode_rollups(raw), state)


async def open_read(
    store: TimeSeriesStore,
    key: str,
    query: RangeQuery,
    tier: TierChoice = TierChoice.AUTO,
) -> TieredRead:
    """How ``query`` on ``key`` will be answered: from which tiers, if any."""
    query = resolve_align(query)
    raw = TieredRead(store, key, query, (RAW,))
    if tier == TierChoice.RAW or not tiers_may_serve(query):
        return raw
    client = store.client
    with translate():
        pipe = client.pipeline(transaction=False)
        pipe.hget(rollups_index_key(), key)
        pipe.hgetall(rollup_state_key(key))
        pipe.execute_command("TS.RANGE", key, "-", "+", "COUNT", 1)
        pipe.execute_command("TS.REVRANGE", key, "-", "+", "COUNT", 1)
        index, state, oldest, newest = await pipe.execute(raise_on_error=False)
    if index is None or not state or isinstance(oldest, Exception):
        return raw
    tiers = states_of(decode_rollups(index), state)
    if tiers is None:
        return raw
    data = await _data_span(store, key, tiers, oldest, newest)
    if data is None:
        return raw
    start = max(query.from_ts or 0, data[0])
    end = min(MAX_TIMESTAMP if query.to_ts is None else query.to_ts, data[1])
    if start > end:
        return raw
    chosen = usable(tiers.states, query, start, end)
    plan = pieces(start, end, chosen, data)
    names = {p.name for p in plan}
    if names == {RAW}:
        return raw
    served = tuple(
        [s.tier.name for s in chosen if s.tier.name in names] + ([RAW] if RAW in names else [])
    )
    return TieredRead(store, key, query, served, tiers, tiers.states, start, end, data)


async def _data_span(
    store: TimeSeriesStore, key: str, tiers: SeriesTiers, oldest: Any, newest: Any
) -> tuple[int, int] | None:
    """The first and last time holding data, raw or in tiers (tiers hold data older than the
    raw samples only where the raw series' retention dropped it)."""
    firsts = [int(oldest[0][0])] if oldest else []
    lasts = [int(newest[0][0])] if newest else []
    kept = [s for s in tiers.states if s.covers is not None]
    if kept and (tiers.raw_retention or not firsts):
        with translate():
            pipe = store.client.pipeline(transaction=False)
            for state in kept:
                counts = part_key(key, state.tier, Part.COUNT)
                pipe.execute_command("TS.RANGE", counts, "-", "+", "COUNT", 1)
                pipe.execute_command("TS.REVRANGE", counts, "-", "+", "COUNT", 1)
            replies = await pipe.execute()
        for state, first, last in zip(kept, replies[::2], replies[1::2], strict=True):
            if first:
                firsts.append(int(first[0][0]))
                lasts.append(int(last[0][0]) + state.tier.bucket_ms - 1)
    if not firsts:
        return None
    return min(firsts), max(lasts)


async def open_reads(
    store: TimeSeriesStore,
    keys: Sequence[str],
    query: RangeQuery,
    tier: TierChoice = TierChoice.AUTO,
) -> list[TieredRead]:
    """:func:`open_read` for many series: one round trip finds those with tiers (the others
    read raw samples), which are then opened a few at a time."""
    query = resolve_align(query)
    reads = [TieredRead(store, key, query, (RAW,)) for key in keys]
    if tier == TierChoice.RAW or not tiers_may_serve(query) or not keys:
        return reads
    with translate():
        indexed = await store.client.hmget(rollups_index_key(), list(keys))
    limit = asyncio.Semaphore(OPENING)

    async def opened(key: str) -> TieredRead:
        async with limit:
            return await open_read(store, key, query, tier)

    chosen = [i for i, found in enumerate(indexed) if found is not None]
    for i, read in zip(
        chosen, await asyncio.gather(*(opened(keys[i]) for i in chosen)), strict=True
    ):
        reads[i] = read
    return reads


async def tiered_range(
    store: TimeSeriesStore, key: str, query: RangeQuery, tier: TierChoice = TierChoice.AUTO
) -> list[Point]:
    """The whole answer to ``query`` (like :meth:`TimeSeriesStore.range`), from tiers when
    they can serve it."""
    read = await open_read(store, key, query, tier)
    if read.tiers is None:
        return await store.range(key, read.query)
    return [point async for page in read.pages() for point in page]


async def count_samples(
    store: TimeSeriesStore, key: str, start: int, end: int, query: RangeQuery | None = None
) -> int:
    """:func:`tsdb.paging.count_samples`, counted from tiers where they can (one bucket
    over the range: any tier's whole buckets inside it serve)."""
    counted = count_query(start, end, query)
    return int(sum(b[1] for b in await tiered_range(store, key, counted)))


async def iter_tiered_arrays(
    store: TimeSeriesStore,
    key: str,
    query: RangeQuery,
    page: int = DEFAULT_PAGE,
    tier: TierChoice = TierChoice.AUTO,
) -> AsyncIterator[tuple[Any, Any]]:
    """:func:`tsdb.paging.iter_arrays`, from tiers when they can serve the query."""
    read = await open_read(store, key, query, tier)
    async for points in read.pages(page):
        array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        yield array[:, 0].astype(np.int64), np.ascontiguousarray(array[:, 1])
