"""The series index tsapi keeps for itself: every series key in order, every label name
and every label value, with the number of series behind each.

tsapi's Redis functions (``functions.lua``) change it in the same atomic call that creates,
relabels or deletes a series, so it is exact for everything written through tsapi;
``tsapi index check`` / ``rebuild`` (:mod:`tsdb.index_build`) are for series made behind
its back. Reads cost what they return: a page of keys is one ``ZRANGE ... BYLEX LIMIT``
per index, label names and values one ``HGETALL`` per index. Each read also fetches the
index's state in the same round trip, and answers ``None`` unless every index is ready
(missing, being rebuilt, or stale after resharding), so that callers fall back to
scanning the keyspace rather than give a wrong answer.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from tsdb.connection import Client
from tsdb.faults import guarded, translate
from tsdb.layout import IndexLayout, Shard

__all__ = ["INDEX_VERSION", "IndexState", "SeriesIndex", "state_of"]

log = logging.getLogger(__name__)

INDEX_VERSION = "1"
"""The layout of the index's keys; an index of another version is rebuilt."""

Command = tuple[Any, ...]


class IndexState(StrEnum):
    """Whether an index can answer."""

    READY = "ready"
    BUILDING = "building"
    MISSING = "missing"
    STALE = "stale"  # another version, or built for other slots (resharding)


def state_of(meta: dict[str, Any] | None, shard: Shard) -> IndexState:
    """The state an index's meta hash describes, for the shard it should serve."""
    if not meta:
        return IndexState.MISSING
    if meta.get("state") == IndexState.BUILDING:
        return IndexState.BUILDING
    if meta.get("version") != INDEX_VERSION or meta.get("slots", "") != shard.slots:
        return IndexState.STALE
    return IndexState(meta.get("state", IndexState.MISSING))


@guarded
class SeriesIndex:
    """Reads of the series index (one per Redis, one per primary on a cluster)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.layout = IndexLayout(client)
        self._warned = False

    async def state(self) -> IndexState:
        """The index's state: the worst of its shards'."""
        shards = await self.layout.shards()
        pipe = self.client.pipeline(transaction=False)
        for shard in shards:
            pipe.execute_command("HGETALL", shard.prefix + "meta")
        with translate():
            metas = await pipe.execute()
        states = [state_of(m, s) for m, s in zip(metas, shards, strict=True)]
        for worst in (IndexState.MISSING, IndexState.STALE, IndexState.BUILDING):
            if worst in states:
                return worst
        return IndexState.READY

    async def page(self, after: str | None, limit: int) -> tuple[list[str], bool] | None:
        """Up to ``limit`` series keys after ``after`` in order, and whether more follow."""
        start = "-" if after is None else f"({after}"
        replies = await self._read(
            lambda p: [("ZRANGE", p + "series", start, "+", "BYLEX", "LIMIT", 0, limit + 1)]
        )
        if replies is None:
            return None
        merged = list(heapq.merge(*(r[0] for r in replies)))
        return merged[:limit], len(merged) > limit

    async def keys(self) -> list[str] | None:
        """Every series key, in order."""
        replies = await self._read(lambda p: [("ZRANGE", p + "series", 0, -1)])
        return None if replies is None else list(heapq.merge(*(r[0] for r in replies)))

    async def count(self) -> int | None:
        """How many series there are."""
        replies = await self._read(lambda p: [("ZCARD", p + "series")])
        return None if replies is None else sum(int(r[0]) for r in replies)

    async def names(self) -> dict[str, int] | None:
        """Every label name in use, with the number of series that have it."""
        replies = await self._read(lambda p: [("HGETALL", p + "names")])
        return None if replies is None else _summed(r[0] for r in replies)

    async def values(self, name: str) -> dict[str, int] | None:
        """Every value of label ``name``, with the number of series that have it, by value."""
        replies = await self._read(lambda p: [("HGETALL", p + "values:" + name)])
        return None if replies is None else _summed(r[0] for r in replies)

    async def value_list(self, name: str) -> list[str] | None:
        """Every value of label ``name``, sorted (cheaper than :meth:`values`)."""
        replies = await self._read(lambda p: [("HKEYS", p + "values:" + name)])
        if replies is None:
            return None
        if len(replies) == 1:
            return sorted(replies[0][0])
        return sorted(set().union(*(r[0] for r in replies)))

    async def _read(self, commands: Callable[[str], Sequence[Command]]) -> list[list[Any]] | None:
        """Run ``commands(prefix)`` on every index in one round trip, with each index's meta;
        the replies per index, or None if one of them is not ready."""
        shards = await self.layout.shards()
        pipe = self.client.pipeline(transaction=False)
        sizes: list[int] = []
        for shard in shards:
            pipe.execute_command("HGETALL", shard.prefix + "meta")
            batch = commands(shard.prefix)
            for command in batch:
                pipe.execute_command(*command)
            sizes.append(len(batch))
        with translate():
            replies = await pipe.execute()
        grouped: list[list[Any]] = []
        at = 0
        for shard, size in zip(shards, sizes, strict=True):
            state = state_of(replies[at], shard)
            if state is not IndexState.READY:
                self._warn(state)
                return None
            grouped.append(replies[at + 1 : at + 1 + size])
            at += 1 + size
        return grouped

    def _warn(self, state: IndexState) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "the series index is %s: listing series and labels scans the keyspace until "
                "it is ready (run `tsapi index rebuild`)",
                state,
            )


def _summed(maps: Any) -> dict[str, int]:
    """The counts of every index added up, sorted by name."""
    found = [m if isinstance(m, dict) else dict(_pairs(m)) for m in maps]
    if len(found) == 1:
        return {name: int(count) for name, count in sorted(found[0].items())}
    total: dict[str, int] = {}
    for one in found:
        for name, count in one.items():
            total[name] = total.get(name, 0) + int(count)
    return dict(sorted(total.items()))


def _pairs(found: Any) -> list[tuple[str, Any]]:
    if isinstance(found, dict):
        return list(found.items())
    return list(zip(found[::2], found[1::2], strict=False))
