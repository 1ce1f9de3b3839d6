"""Which series have tiers, and making or removing a series' tier series.

Every series with tiers is listed in one hash (:func:`~tsdb.keys.rollups_index_key`: key ->
its tiers as JSON), which writers read to learn which series they must keep tiers of. Each
such series has a state hash (:func:`~tsdb.keys.rollup_state_key`) that the Redis functions
read and update, and 7 series per tier (:func:`~tsdb.keys.rollup_tier_key`), labelled with
``tsapi_rollup_of``, ``tsapi_rollup_bucket`` and ``tsapi_rollup_part`` (a label prefix users
cannot set: a filter on them finds the tier series; no other filter can).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import RedisCluster
from redis.crc import key_slot

from tsdb.connection import Client
from tsdb.errors import InvalidInput, SeriesNotFound
from tsdb.faults import translate
from tsdb.keys import rollup_state_key, rollup_tier_key, rollups_index_key
from tsdb.rollups.models import PARTS, Part, Rollups, Tier, check_tiers

__all__ = [
    "LABEL_BUCKET",
    "LABEL_OF",
    "LABEL_PART",
    "SeriesTiers",
    "TierState",
    "any_rollups",
    "decode_rollups",
    "drop_tiers",
    "function_keys",
    "load_rollups",
    "note_retention",
    "part_key",
    "read_states",
    "set_tiers",
    "states_of",
    "tiers_arg",
]

LABEL_OF = "tsapi_rollup_of"
LABEL_BUCKET = "tsapi_rollup_bucket"
LABEL_PART = "tsapi_rollup_part"


def part_key(key: str, tier: Tier, part: Part) -> str:
    """The series holding ``part`` of ``tier`` of series ``key``."""
    return rollup_tier_key(key, tier.name, part.value)


def function_keys(key: str, tiers: Sequence[Tier]) -> list[str]:
    """The KEYS of the tier functions: the series, its state, every part of every tier."""
    return [key, rollup_state_key(key), *(part_key(key, t, p) for t in tiers for p in PARTS)]


def tiers_arg(tiers: Sequence[Tier]) -> str:
    """The tier list as the state hash spells it (``60000,3600000``)."""
    return ",".join(str(t.bucket_ms) for t in tiers)


def _encode(rollups: Rollups) -> bytes:
    return orjson.dumps(
        {"tiers": [[t.bucket_ms, t.retention_ms] for t in rollups.tiers], "origin": rollups.origin}
    )


def decode_rollups(raw: Any) -> Rollups:
    """A series' tiers from their JSON in the index."""
    data = orjson.loads(raw)
    return Rollups(tuple(Tier(int(b), int(r)) for b, r in data["tiers"]), str(data["origin"]))


async def load_rollups(client: Client, keys: Sequence[str]) -> dict[str, Rollups]:
    """The tiers of those of ``keys`` that have some."""
    if not keys:
        return {}
    with translate():
        found = await client.hmget(rollups_index_key(), list(keys))
    return {k: decode_rollups(v) for k, v in zip(keys, found, strict=True) if v is not None}


async def any_rollups(client: Client) -> bool:
    """Whether any series has tiers (a writer asks once, and skips the rest if not)."""
    with translate():
        return bool(await client.exists(rollups_index_key()))


@dataclass(frozen=True)
class TierState:
    """How far one tier is filled: it keeps exactly the buckets in [:attr:`kept_from`, ``hi``)."""

    tier: Tier
    lo: int
    hi: int | None  # None: nothing filled yet

    @property
    def kept_from(self) -> int | None:
        """The first bucket the tier keeps (its retention never drops it); None if none."""
        if self.hi is None:
            return None
        start = self.lo
        if self.tier.retention_ms:
            b = self.tier.bucket_ms
            edge = -(-max(0, self.hi - b - self.tier.retention_ms) // b) * b
            start = max(start, edge)
        return start if start < self.hi else None

    @property
    def covers(self) -> tuple[int, int] | None:
        """``(first, last)`` ms of the raw time the tier answers for, if any."""
        start = self.kept_from
        return None if start is None or self.hi is None else (start, self.hi - 1)


@dataclass(frozen=True)
class SeriesTiers:
    """A series' tiers with their state, as the state hash has them."""

    rollups: Rollups
    states: tuple[TierState, ...]
    pending: bool
    version: int
    raw_retention: int = 0
    """The raw series' retention (ms; 0: forever), as tsapi last set it."""


async def read_states(client: Client, key: str) -> SeriesTiers | None:
    """The tiers of ``key`` and how far each is filled; None if it has none."""
    with translate():
        raw = await client.hget(rollups_index_key(), key)
        state = await client.hgetall(rollup_state_key(key)) if raw is not None else {}
    if raw is None or not state:
        return None
    return states_of(decode_rollups(raw), state)


def states_of(rollups: Rollups, state: dict[Any, Any]) -> SeriesTiers | None:
    """:class:`SeriesTiers` from a state hash (None if it does not match ``rollups``)."""
    if state.get("tiers") != tiers_arg(rollups.tiers):
        return None
    states = tuple(
        TierState(
            tier,
            int(state.get(f"lo:{tier.bucket_ms}", 0)),
            _hi(state.get(f"hi:{tier.bucket_ms}")),
        )
        for tier in rollups.tiers
    )
    return SeriesTiers(
        rollups,
        states,
        "pending" in state,
        int(state.get("version", 0)),
        int(state.get("raw_retention", 0)),
    )


def _hi(value: str | None) -> int | None:
    if value is None or int(value) < 0:
        return None
    return int(value)


async def set_tiers(client: Client, key: str, rollups: Rollups, *, backfill: bool = True) -> bool:
    """Give series ``key`` these tiers (replacing any it has; unchanged tiers keep their
    data); True when the new tiers need a backfill of the history already stored.

    With ``backfill=False`` (a series its writer just created) nothing is left pending: the
    writer fills the tiers forward itself."""
    tiers = check_tiers(rollups.tiers)
    rollups = Rollups(tiers, rollups.origin)
    _check_slots(client, key, tiers)
    with translate():
        if await client.type(key) != "TSDB-TYPE":
            raise SeriesNotFound(key)
        before = (await load_rollups(client, [key])).get(key)
        info = _as_map(await client.execute_command("TS.INFO", key))
    old = {t.bucket_ms: t for t in before.tiers} if before else {}
    new = {t.bucket_ms: t for t in tiers}
    total = int(info.get("totalSamples", 0))
    last = int(info["lastTimestamp"]) if total else 0
    added = [t for t in tiers if t.bucket_ms not in old]
    state = rollup_state_key(key)
    with translate():
        pipe = client.pipeline(transaction=False)
        for tier in old.values():
            if tier.bucket_ms not in new:
                pipe.delete(*(part_key(key, tier, p) for p in PARTS))
                for field in ("r", "lo", "hi"):
                    pipe.hdel(state, f"{field}:{tier.bucket_ms}")
        for tier in tiers:
            if tier.bucket_ms in old and old[tier.bucket_ms].retention_ms != tier.retention_ms:
                for part in PARTS:
                    pipe.execute_command(
                        "TS.ALTER", part_key(key, tier, part), "RETENTION", tier.retention_ms
                    )
                pipe.hset(state, f"r:{tier.bucket_ms}", tier.retention_ms)
        for tier in added:
            for part in PARTS:
                name = part_key(key, tier, part)
                pipe.delete(name)
                pipe.execute_command(
                    "TS.CREATE", name, "RETENTION", tier.retention_ms,
                    "DUPLICATE_POLICY", "LAST", "ENCODING", "COMPRESSED",
                    "LABELS", LABEL_OF, key, LABEL_BUCKET, tier.name, LABEL_PART, part.value,
                )  # fmt: skip
            pipe.hset(
                state,
                mapping={
                    f"r:{tier.bucket_ms}": tier.retention_ms,
                    f"lo:{tier.bucket_ms}": _start(tier, total, last),
                    f"hi:{tier.bucket_ms}": -1,
                },
            )
        backfill = backfill and bool(added) and total > 0
        if backfill:
            pipe.hset(state, "pending", 1)
        pipe.hset(state, "tiers", tiers_arg(tiers))
        pipe.hset(state, "raw_retention", int(info.get("retentionTime", 0)))
        pipe.hincrby(state, "version", 1)
        pipe.hset(rollups_index_key(), key, _encode(rollups))
        await pipe.execute()
    return backfill


async def note_retention(client: Client, key: str, retention_ms: int) -> None:
    """The raw series' retention changed: the tier functions need it (only if it has tiers)."""
    state = rollup_state_key(key)
    with translate():
        if await client.exists(state):
            await client.hset(state, "raw_retention", retention_ms)


def _start(tier: Tier, total: int, last: int) -> int:
    """Where a new tier's claim starts: everything, or what its retention will keep."""
    if not tier.retention_ms or not total:
        return 0
    b = tier.bucket_ms
    return max(0, -(-(last - tier.retention_ms) // b) * b)


async def drop_tiers(client: Client, key: str) -> Rollups | None:
    """Remove every tier of ``key`` (their series too); the tiers it had, if any."""
    before = (await load_rollups(client, [key])).get(key)
    if before is None:
        return None
    with translate():
        pipe = client.pipeline(transaction=False)
        pipe.hdel(rollups_index_key(), key)
        pipe.delete(rollup_state_key(key))
        for tier in before.tiers:
            pipe.delete(*(part_key(key, tier, p) for p in PARTS))
        await pipe.execute()
    return before


def _check_slots(client: Client, key: str, tiers: Sequence[Tier]) -> None:
    if not isinstance(client, RedisCluster):
        return
    slot = key_slot(key.encode())
    if any(key_slot(k.encode()) != slot for k in function_keys(key, tiers)[1:]):
        raise InvalidInput(
            f"on a Redis Cluster, series {key!r} cannot have tiers: its key has braces but no "
            "hash tag, so its tier series cannot share its hash slot"
        )


def _as_map(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {str(k): v for k, v in zip(value[::2], value[1::2], strict=False)}
