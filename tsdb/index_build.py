"""Checking and rebuilding the series index (``tsapi index check|rebuild``, and at start-up).

A rebuild empties each index and marks it ``building`` in one atomic step, then indexes the
node's series batch by batch inside Redis (``tsapi_index_scan``: SCAN, TS.INFO, and the
same "add unless indexed" step the writers use). Writes that create, relabel or delete
series meanwhile go through the same functions, so the index is exact when the rebuild ends
even under load; readers fall back to scanning while it runs. On a cluster it also drops
indexes left under prefixes no longer in use (after resharding).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import RedisCluster

from tsdb.connection import Client
from tsdb.errors import IndexBusy
from tsdb.faults import translate
from tsdb.functions import INDEX_CLEAR, INDEX_SCAN, SERIES_SCAN, load_functions
from tsdb.index import INDEX_VERSION, IndexState, state_of
from tsdb.keys import INDEX_PREFIX
from tsdb.layout import IndexLayout, Shard

__all__ = [
    "IndexReport",
    "RebuildReport",
    "check_index",
    "ensure_index",
    "rebuild_index",
]

log = logging.getLogger(__name__)

BATCH = 1000
"""Keys scanned per function call: each call blocks Redis for a few milliseconds."""
LOCK_MS = 120_000
SAMPLE = 20
"""How many keys of each kind of difference a report names."""


@dataclass
class IndexReport:
    """What ``tsapi index check`` found."""

    series: int = 0
    indexed: int = 0
    states: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Series that exist but are not indexed (a sample of them)."""
    stale: list[str] = field(default_factory=list)
    """Indexed keys whose series does not exist (a sample)."""
    wrong_counts: list[str] = field(default_factory=list)
    """Label names and values whose count differs (a sample)."""
    missing_total: int = 0
    stale_total: int = 0
    wrong_total: int = 0

    @property
    def exact(self) -> bool:
        """True when the index is ready and says exactly what Redis holds."""
        ready = all(s == IndexState.READY for s in self.states)
        return ready and not (self.missing_total or self.stale_total or self.wrong_total)


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    series: int
    seconds: float
    shards: int
    dropped_keys: int


async def _on(client: Client, shard: Shard, *args: Any) -> Any:
    """Run a keyless command on the node that holds ``shard``."""
    if isinstance(client, RedisCluster):
        return await client.execute_command(*args, target_nodes=shard.node)
    return await client.execute_command(*args)


async def rebuild_index(client: Client, *, batch: int = BATCH) -> RebuildReport:
    """Empty and refill every index from the series Redis holds; raise :class:`IndexBusy`
    when another process is at it."""
    started = time.monotonic()
    await load_functions(client)
    shards = await IndexLayout(client).shards()
    token = uuid.uuid4().hex
    held: list[Shard] = []
    with translate():
        try:
            for shard in shards:
                if not await client.set(shard.prefix + "lock", token, nx=True, px=LOCK_MS):
                    raise IndexBusy("another process is rebuilding the series index")
                held.append(shard)
            dropped = total = 0
            for shard in shards:
                dropped += await _clear(client, shard)
                total += await _fill(client, shard, batch)
                await client.hset(
                    shard.prefix + "meta",
                    mapping={
                        "state": IndexState.READY.value,
                        "version": INDEX_VERSION,
                        "slots": shard.slots,
                        "built_at": str(int(time.time() * 1000)),
                    },
                )
        finally:
            for shard in held:
                if await client.get(shard.prefix + "lock") == token:
                    await client.delete(shard.prefix + "lock")
    seconds = time.monotonic() - started
    log.info("series index rebuilt: %d series in %.1f s", total, seconds)
    return RebuildReport(total, seconds, len(shards), dropped)


async def _index_keys(client: Client, shard: Shard) -> list[str]:
    """Every index key on the shard's node (under any prefix)."""
    found: list[str] = []
    cursor: Any = 0
    while True:
        cursor, keys = await _on(
            client, shard, "SCAN", cursor, "MATCH", INDEX_PREFIX + "*", "COUNT", 1000
        )
        if isinstance(cursor, dict):  # redis-py's cluster client: cursors by node
            cursor = next(iter(cursor.values()))
        found += keys
        if int(cursor) == 0:
            return found


async def _clear(client: Client, shard: Shard) -> int:
    """Empty the shard's index and mark it building; drop indexes under other prefixes."""
    others = [k for k in await _index_keys(client, shard) if not k.startswith(shard.prefix)]
    dropped = int(
        await _on(client, shard, "FCALL", INDEX_CLEAR, 0, shard.prefix, IndexState.BUILDING)
    )
    for start in range(0, len(others), 500):
        pipe = client.pipeline(transaction=False)
        for key in others[start : start + 500]:
            pipe.unlink(key)
        dropped += sum(int(n) for n in await pipe.execute())
    return dropped


async def _fill(client: Client, shard: Shard, batch: int) -> int:
    """Index the node's series batch by batch; how many were added."""
    added = 0
    cursor: Any = 0
    while True:
        cursor, count = await _on(
            client, shard, "FCALL", INDEX_SCAN, 0, shard.prefix, cursor, batch
        )
        added += int(count)
        await client.pexpire(shard.prefix + "lock", LOCK_MS)
        if int(cursor) == 0:
            return added


async def ensure_index(client: Client) -> RebuildReport | None:
    """Rebuild the index when it is missing or stale (at start-up); leave it to whoever is
    building it. What the rebuild did, or None when none was needed or possible here."""
    shards = await IndexLayout(client).shards()
    pipe = client.pipeline(transaction=False)
    for shard in shards:
        pipe.execute_command("HGETALL", shard.prefix + "meta")
        pipe.execute_command("EXISTS", shard.prefix + "lock")
    with translate():
        replies = await pipe.execute()
    states = [state_of(m, s) for m, s in zip(replies[::2], shards, strict=True)]
    locked = any(int(x) for x in replies[1::2])
    if all(s == IndexState.READY for s in states) or locked:
        return None
    log.info("the series index is %s: rebuilding it", ", ".join(sorted(set(states))))
    try:
        return await rebuild_index(client)
    except IndexBusy:
        return None


async def check_index(client: Client, *, batch: int = BATCH) -> IndexReport:
    """Compare every index with the series Redis holds (reads only)."""
    await load_functions(client)
    report = IndexReport()
    with translate():
        for shard in await IndexLayout(client).shards():
            await _check_shard(client, shard, batch, report)
    return report


async def _check_shard(client: Client, shard: Shard, batch: int, report: IndexReport) -> None:
    actual: dict[str, list[str]] = {}
    cursor: Any = 0
    while True:
        cursor, found = await _on(client, shard, "FCALL", SERIES_SCAN, 0, cursor, batch)
        for entry in found:
            actual[entry[0]] = entry[1:]
        if int(cursor) == 0:
            break
    p = shard.prefix
    report.states.append(state_of(await _hash(client, p + "meta"), shard).value)
    indexed = {str(k) for k in await client.zrange(p + "series", 0, -1)}
    report.series += len(actual)
    report.indexed += len(indexed)
    _note(report, "missing", sorted(set(actual) - indexed))
    _note(report, "stale", sorted(indexed - set(actual)))
    names: dict[str, int] = {}
    values: dict[str, dict[str, int]] = {}
    for labels in actual.values():
        for name, value in zip(labels[::2], labels[1::2], strict=True):
            names[name] = names.get(name, 0) + 1
            per = values.setdefault(name, {})
            per[value] = per.get(value, 0) + 1
    stored_names = {k: int(v) for k, v in (await _hash(client, p + "names")).items()}
    wrong = _diff("", names, stored_names)
    for name in sorted(set(names) | set(stored_names)):
        stored = {k: int(v) for k, v in (await _hash(client, p + "values:" + name)).items()}
        wrong += _diff(f"{name}=", values.get(name, {}), stored)
    _note(report, "wrong_counts", wrong)


async def _hash(client: Client, key: str) -> dict[str, Any]:
    """A hash's fields (the client decodes replies)."""
    found = await client.hgetall(key)
    return {str(k): v for k, v in found.items()}


def _diff(head: str, actual: dict[str, int], stored: dict[str, int]) -> list[str]:
    return [
        f"{head}{k}: index {stored.get(k, 0)}, actual {actual.get(k, 0)}"
        for k in sorted(set(actual) | set(stored))
        if actual.get(k, 0) != stored.get(k, 0)
    ]


def _note(report: IndexReport, kind: str, items: list[str]) -> None:
    sample: list[str] = getattr(report, kind)
    sample += items[: max(0, SAMPLE - len(sample))]
    total = {"missing": "missing_total", "stale": "stale_total", "wrong_counts": "wrong_total"}
    setattr(report, total[kind], getattr(report, total[kind]) + len(items))
