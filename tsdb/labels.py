"""Label discovery (like Prometheus' /api/v1/labels) and deleting ranges by label filter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from tsdb.errors import InvalidInput, NoSeriesMatch
from tsdb.keys import LABEL_PATTERN
from tsdb.store import TimeSeriesStore

__all__ = ["delete_matching", "label_names", "label_values"]


async def _labels(store: TimeSeriesStore, filters: Iterable[str] | None) -> list[dict[str, str]]:
    keys = await store.keys(filters)
    return list((await store.labels_of(keys)).values())


async def label_names(store: TimeSeriesStore, filters: Iterable[str] | None = None) -> list[str]:
    """Every label name used by the series (that match ``filters``), sorted."""
    return sorted({name for labels in await _labels(store, filters) for name in labels})


async def label_values(
    store: TimeSeriesStore, name: str, filters: Iterable[str] | None = None
) -> list[str]:
    """Every value of label ``name`` among the series (that match ``filters``), sorted."""
    if not LABEL_PATTERN.fullmatch(name):
        raise InvalidInput(f"{name!r} is not a valid label name")
    return sorted({labels[name] for labels in await _labels(store, filters) if name in labels})


async def delete_matching(
    store: TimeSeriesStore, filters: Iterable[str], from_ts: int | None, to_ts: int | None
) -> dict[str, int]:
    """Delete [from, to] in every series the filters select; how many samples went, per key.

    Raises :class:`InvalidInput` when the filters select no series, so a typo in a filter
    is reported instead of looking like a successful no-op.
    """
    filters = list(filters)
    keys = await store.keys(filters)
    if not keys:
        raise NoSeriesMatch(f"the filter {' '.join(filters)} matches no series; nothing deleted")
    counts = await asyncio.gather(*(store.delete_range(k, from_ts, to_ts) for k in keys))
    return dict(zip(keys, counts, strict=True))
