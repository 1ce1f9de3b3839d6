"""Pieces the job types share: selecting series and a time range, and counting samples."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from api.schemas import StrictModel, TimeIn
from tsdb.errors import InvalidInput, NoSeriesMatch, SeriesNotFound
from tsdb.filters import parse_filters
from tsdb.keys import validate_key
from tsdb.models import Aggregation, RangeQuery, SeriesInfo
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import now_ms, parse_bound

__all__ = [
    "MAX_SERIES",
    "Selection",
    "bounds_of",
    "count_samples",
    "data_bounds",
    "prepare_selection",
]

MAX_SERIES = 50


class Selection(StrictModel):
    """Series (by ``keys`` or a label ``filter``) and a time range (open by default)."""

    keys: list[str] | None = Field(None, description="Series keys")
    filter: list[str] | None = Field(None, description="Label filters, e.g. ['city=austin']")
    from_: TimeIn | None = Field(None, alias="from", description="Start; default: first sample")
    to: TimeIn | None = Field(None, description="End; default: last sample")

    @model_validator(mode="after")
    def _one_selector(self) -> Selection:
        if (self.keys is None) == (self.filter is None):
            raise ValueError("give either 'keys' or 'filter'")
        if self.keys is not None and not self.keys:
            raise ValueError("'keys' must not be empty")
        return self

    @property
    def from_ms(self) -> int | None:
        return None if self.from_ is None else int(self.from_)

    @property
    def to_ms(self) -> int | None:
        return None if self.to is None else int(self.to)


async def prepare_selection(selection: Selection, store: TimeSeriesStore) -> dict[str, Any]:
    """Check the selection against the store; return it resolved to keys and epoch ms."""
    now = now_ms()
    start = parse_bound(selection.from_, "from", now)
    end = parse_bound(selection.to, "to", now)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"from ({start}) is after to ({end})")
    if selection.keys is not None:
        keys = [validate_key(k) for k in dict.fromkeys(selection.keys)]
        found = await asyncio.gather(*(store.exists(k) for k in keys))
        for key, exists in zip(keys, found, strict=True):
            if not exists:
                raise SeriesNotFound(key)
    else:
        filters = parse_filters(selection.filter or [])
        keys = await store.keys(filters)
        if not keys:
            raise NoSeriesMatch(f"the filter {' '.join(filters)} matches no series")
    if len(keys) > MAX_SERIES:
        raise InvalidInput(f"{len(keys)} series selected; a job takes at most {MAX_SERIES}")
    return {"keys": keys, "filter": None, "from": start, "to": end}


async def data_bounds(
    store: TimeSeriesStore, keys: list[str], start: int | None, end: int | None
) -> tuple[int, int] | None:
    """Concrete bounds: the given ones, or the first/last sample over ``keys``; None if no data."""
    if start is not None and end is not None:
        return start, end
    return bounds_of(await asyncio.gather(*(store.info(k) for k in keys)), start, end)


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


async def count_samples(store: TimeSeriesStore, key: str, start: int, end: int) -> int:
    """How many samples ``key`` has in [start, end], counted by the server."""
    buckets = await store.range(
        key,
        RangeQuery(
            from_ts=start,
            to_ts=end,
            aggregation=Aggregation.COUNT,
            bucket_ms=end - start + 1,
            align=start,
        ),
    )
    return int(sum(b[1] for b in buckets))
