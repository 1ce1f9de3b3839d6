"""Where the series index of a series lives: one index per Redis, or one per cluster node.

On a Redis Cluster a Redis function may only touch keys of the node it runs on, so each
primary keeps the index of its own series under a prefix whose hash tag maps to the
lowest slot it serves (:func:`slot_tag`). Readers merge the nodes' indexes. Each index
records the slots its node served when it was built; when resharding changes them the
index is stale until ``tsapi index rebuild`` (readers fall back to scanning meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.crc import key_slot

from tsdb.connection import Client
from tsdb.keys import index_prefix

__all__ = ["IndexLayout", "Shard", "slot_tag"]


@dataclass(frozen=True)
class Shard:
    """One index: its prefix, the node that holds it (None on a standalone Redis), and the
    slots that node serves (``"0-5460,..."``; empty on a standalone Redis)."""

    prefix: str
    node: ClusterNode | None = None
    slots: str = ""


@cache
def slot_tag(slot: int) -> str:
    """The shortest decimal string that Redis Cluster hashes to ``slot``."""
    i = 0
    while key_slot(str(i).encode()) != slot:
        i += 1
    return str(i)


class IndexLayout:
    """Maps series keys to the prefix of the index that holds them, for one client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._cache_of: Any = None
        self._shards: list[Shard] = []
        self._by_node: dict[str, Shard] = {}

    @property
    def is_cluster(self) -> bool:
        """True when talking to a Redis Cluster."""
        return isinstance(self.client, RedisCluster)

    async def shards(self) -> list[Shard]:
        """Every index (one per primary on a cluster)."""
        if not isinstance(self.client, RedisCluster):
            return [Shard(index_prefix())]
        await self.client.initialize()
        return self._current()

    async def prefix_of(self, key: str) -> str:
        """The index prefix for the series ``key``."""
        if not isinstance(self.client, RedisCluster):
            return index_prefix()
        await self.client.initialize()
        return self.prefix_of_now(key)

    def prefix_of_now(self, key: str) -> str:
        """:meth:`prefix_of` once the client knows the cluster's layout (no I/O)."""
        if not isinstance(self.client, RedisCluster):
            return index_prefix()
        self._current()
        node = self.client.nodes_manager.slots_cache[key_slot(key.encode())][0]
        return self._by_node[node.name].prefix

    def _current(self) -> list[Shard]:
        assert isinstance(self.client, RedisCluster)
        cache = self.client.nodes_manager.slots_cache
        if cache is not self._cache_of:
            owned: dict[str, list[int]] = {}
            nodes: dict[str, ClusterNode] = {}
            for slot, holders in cache.items():
                owned.setdefault(holders[0].name, []).append(slot)
                nodes[holders[0].name] = holders[0]
            shards = [
                Shard(index_prefix(slot_tag(min(slots))), nodes[name], _ranges(sorted(slots)))
                for name, slots in owned.items()
            ]
            self._shards = sorted(shards, key=lambda s: s.slots)
            self._by_node = {s.node.name: s for s in self._shards if s.node is not None}
            self._cache_of = cache
        return self._shards


def _ranges(slots: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``"0-2,5"``."""
    parts: list[str] = []
    start = prev = slots[0]
    for slot in [*slots[1:], -2]:
        if slot != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = slot
        prev = slot
    return ",".join(parts)
