"""What the API and the backfill job do with tiers: describe them, set or remove a series'
tiers, replace the policies (and apply them to the series they select), and backfill."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tsdb.errors import SeriesNotFound
from tsdb.faults import translate
from tsdb.keys import rollups_index_key
from tsdb.rollups import maintain
from tsdb.rollups.config import (
    TierState,
    decode_rollups,
    drop_tiers,
    load_rollups,
    part_key,
    read_states,
    set_tiers,
)
from tsdb.rollups.models import PARTS, Policy, Rollups, Tier
from tsdb.rollups.policies import load_policies, policy_for, save_policies
from tsdb.store import TimeSeriesStore

__all__ = [
    "Applied",
    "backfill",
    "describe",
    "put_policies",
    "put_tiers",
    "reapply_policies",
    "remove_tiers",
]


async def describe(store: TimeSeriesStore, key: str) -> dict[str, Any]:
    """The tiers of ``key`` (none: an empty list): what each covers, its size, and whether a
    backfill is still filling them."""
    info = await store.info(key)
    tiers = await read_states(store.client, key)
    body: dict[str, Any] = {
        "key": key,
        "origin": None,
        "pending": False,
        "raw": {"samples": info.total_samples, "memory_bytes": info.memory_bytes},
        "tiers": [],
    }
    if tiers is None:
        return body
    sizes = await _sizes(store, key, tiers.states)
    body.update(origin=tiers.rollups.origin, pending=tiers.pending)
    body["tiers"] = [
        {
            **state.tier.as_dict(),
            "covers": _covers(state, size.pop("first")),
            "filled_to": state.hi,
            **size,
        }
        for state, size in zip(tiers.states, sizes, strict=True)
    ]
    return body


def _covers(state: TierState, first: int | None) -> dict[str, int] | None:
    """What the tier answers for, from its first bucket with data (it also answers, with
    nothing, for the time before: there is no data there)."""
    covers = state.covers
    if covers is None:
        return None
    start = covers[0] if first is None else max(covers[0], min(first, covers[1]))
    return {"from": start, "to": covers[1]}


async def _sizes(
    store: TimeSeriesStore, key: str, states: Sequence[TierState]
) -> list[dict[str, Any]]:
    """Buckets and bytes of each tier (its parts' memory summed), and its parts' keys."""
    with translate():
        pipe = store.client.pipeline(transaction=False)
        for state in states:
            for part in PARTS:
                pipe.execute_command("TS.INFO", part_key(key, state.tier, part))
        replies = await pipe.execute(raise_on_error=False)
    sizes = []
    for i, state in enumerate(states):
        infos = [r for r in replies[i * len(PARTS) : (i + 1) * len(PARTS)] if isinstance(r, dict)]
        total = int(infos[0].get("totalSamples", 0)) if infos else 0
        sizes.append(
            {
                "first": int(infos[0]["firstTimestamp"]) if total else None,
                "buckets": total,
                "memory_bytes": sum(int(r.get("memoryUsage", 0)) for r in infos),
                "series": [part_key(key, state.tier, p) for p in PARTS],
            }
        )
    return sizes


async def put_tiers(store: TimeSeriesStore, key: str, tiers: Sequence[Tier]) -> bool:
    """Give ``key`` these tiers of its own (a policy no longer applies to it); True when a
    backfill must fill them from the history already stored."""
    return await set_tiers(store.client, key, Rollups(tuple(tiers), "series"))


async def remove_tiers(store: TimeSeriesStore, key: str) -> bool:
    """Remove the tiers of ``key``; False if it had none. A policy that selects it gives it
    tiers again only when the policies are set again or its labels change."""
    if not await store.exists(key):
        raise SeriesNotFound(key)
    return await drop_tiers(store.client, key) is not None


@dataclass(frozen=True)
class Applied:
    """What applying the policies changed: series given tiers (or new ones), series whose
    policy tiers were removed, and the series that need a backfill."""

    updated: list[str]
    removed: list[str]
    backfill: list[str]


async def put_policies(store: TimeSeriesStore, policies: Sequence[Policy]) -> Applied:
    """Replace the policies and apply them to every series (see :func:`reapply_policies`)."""
    saved = await save_policies(store.client, policies)
    return await reapply_policies(store, saved)


async def reapply_policies(
    store: TimeSeriesStore, policies: Sequence[Policy] | None = None, keys: Sequence[str] = ()
) -> Applied:
    """Bring the policy tiers of the series (all, or ``keys``) in line with the policies:
    a series selected by a policy gets its tiers (the first policy by name wins), a series
    whose tiers came from a policy that no longer selects it loses them; tiers set on a
    series itself are never touched."""
    client = store.client
    if policies is None:
        policies = await load_policies(client)
    if keys:
        current = await load_rollups(client, keys)
        wanted: dict[str, Policy] = {}
        labels = await store.labels_of(keys)
        for key, series_labels in labels.items():
            policy = policy_for(policies, series_labels)
            if policy is not None:
                wanted[key] = policy
        candidates = set(keys)
    else:
        with translate():
            index = await client.hgetall(rollups_index_key())
        current = {str(k): decode_rollups(v) for k, v in index.items()}
        wanted = {}
        for policy in sorted(policies, key=lambda p: p.name):
            for key in await store.keys(policy.filters):
                wanted.setdefault(key, policy)
        candidates = set(current) | set(wanted)
    updated, removed, backfill_keys = [], [], []
    for key in sorted(candidates):
        have = current.get(key)
        if have is not None and have.origin == "series":
            continue
        policy = wanted.get(key)
        if policy is None:
            if have is not None:
                await drop_tiers(client, key)
                removed.append(key)
            continue
        target = Rollups(tuple(sorted(policy.tiers)), f"policy:{policy.name}")
        if have == target:
            continue
        try:
            if await set_tiers(client, key, target):
                backfill_keys.append(key)
        except SeriesNotFound:
            continue
        updated.append(key)
    return Applied(updated, removed, backfill_keys)


async def backfill(
    store: TimeSeriesStore, key: str, on_progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Fill the tiers of ``key`` from the raw history, in bounded steps, from where they
    stand (so a backfill that was stopped resumes); ``on_progress`` hears the fraction done
    after each step. Returns what was filled."""
    tiers = await read_states(store.client, key)
    if tiers is None:
        return {"key": key, "tiers": []}
    info = await store.info(key)
    density = 1e-9
    if info.total_samples > 1 and info.first_timestamp is not None:
        span = max(1, (info.last_timestamp or 0) - info.first_timestamp)
        density = info.total_samples / span
    last = info.last_timestamp or 0
    starts = [
        s.hi if s.hi is not None else max(s.lo, (info.first_timestamp or 0)) for s in tiers.states
    ]
    ends = [last // s.tier.bucket_ms * s.tier.bucket_ms for s in tiers.states]
    total = sum(max(0, e - s) for s, e in zip(starts, ends, strict=True)) or 1

    def step(done: maintain.Advanced) -> None:
        if on_progress is None:
            return
        filled = sum(
            max(0, min(e, h if h is not None else s) - s)
            for s, e, h in zip(starts, ends, done.his, strict=True)
        )
        on_progress(min(1.0, filled / total))

    done = await maintain.advance(
        store.client, key, tiers.rollups, density=density, force=True, finish=True, on_step=step
    )
    return {
        "key": key,
        "tiers": [t.name for t in tiers.rollups.tiers],
        "filled_to": list(done.his) if done is not None else [],
    }
