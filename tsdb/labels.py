"""Label discovery (like Prometheus' /api/v1/labels) and deleting ranges by label filter.

Without a filter, names and values come from the series index with their series counts
(one hash read per index); with one, from the labels of the matching series (one TS.MGET).
When the index cannot answer (missing, being rebuilt), from every series' labels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from tsdb.errors import InvalidInput, NoSeriesMatch
from tsdb.keys import LABEL_PATTERN
from tsdb.store import TimeSeriesStore

__all__ = ["delete_matching", "label_counts", "label_name_counts", "label_names", "label_values"]

SCAN_BATCH = 10_000


async def _all_labels(store: TimeSeriesStore) -> list[dict[str, str]]:
    """Every series' labels, the slow way (no index)."""
    keys = await store.keys()
    found: list[dict[str, str]] = []
    for start in range(0, len(keys), SCAN_BATCH):
        found += (await store.labels_of(keys[start : start + SCAN_BATCH])).values()
    return found


def _tally(labels: Iterable[dict[str, str]], name: str | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for series in labels:
        items = series if name is None else ([series[name]] if name in series else [])
        for item in items:
            counts[item] = counts.get(item, 0) + 1
    return counts


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


async def label_name_counts(
    store: TimeSeriesStore, filters: Iterable[str] | None = None
) -> dict[str, int]:
    """Every label name used by the series (that match ``filters``) with how many series
    have it, sorted by name."""
    filters = list(filters or [])
    if filters:
        return _sorted(_tally((await store.labels_matching(filters)).values(), None))
    counts = await store.index.names()  # sorted
    return _sorted(_tally(await _all_labels(store), None)) if counts is None else counts


async def label_counts(
    store: TimeSeriesStore, name: str, filters: Iterable[str] | None = None
) -> dict[str, int]:
    """Every value of label ``name`` among the series (that match ``filters``) with how
    many series have it, sorted by value."""
    if not LABEL_PATTERN.fullmatch(name):
        raise InvalidInput(f"{name!r} is not a valid label name")
    filters = list(filters or [])
    if filters:
        return _sorted(_tally((await store.labels_matching(filters, [name])).values(), name))
    counts = await store.index.values(name)  # sorted
    return _sorted(_tally(await _all_labels(store), name)) if counts is None else counts


async def label_names(store: TimeSeriesStore, filters: Iterable[str] | None = None) -> list[str]:
    """Every label name used by the series (that match ``filters``), sorted."""
    return list(await label_name_counts(store, filters))


async def label_values(
    store: TimeSeriesStore, name: str, filters: Iterable[str] | None = None
) -> list[str]:
    """Every value of label ``name`` among the series (that match ``filters``), sorted."""
    if not filters and LABEL_PATTERN.fullmatch(name):
        found = await store.index.value_list(name)
        if found is not None:
            return found
    return list(await label_counts(store, name, filters))


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
