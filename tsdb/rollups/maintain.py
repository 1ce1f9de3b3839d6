"""Keeping tiers filled: forward as raw samples arrive (or a backfill runs), and recomputed
where writes into the past, updates, merges and deletes changed raw samples.

Every call is one atomic Redis function call (``rollups.lua``) that aggregates at most about
:data:`BUDGET` raw samples per tier reading raw, so that no call holds Redis for long; the
loops here call again until the work is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tsdb.connection import Client
from tsdb.rollups import functions
from tsdb.rollups.config import function_keys, load_rollups, tiers_arg
from tsdb.rollups.models import Rollups

__all__ = ["BUDGET", "Advanced", "advance", "touch"]

log = logging.getLogger(__name__)

BUDGET = 200_000
"""Raw samples a call aggregates at most (7 passes each: ~20 ms of Redis on 2 cores)."""
MAX_RANGES = 400
"""Changed ranges per touch call."""
STALE, NO_TIERS = -2, -1


@dataclass(frozen=True)
class Advanced:
    """Where a forward fill stopped: every tier caught up or not, and each tier's ``hi``."""

    done: bool
    his: tuple[int | None, ...]


def span_for(density: float, tiers: int) -> int:
    """The time a call may cover, for raw samples ``density`` per ms and ``tiers`` tiers."""
    per_ms = max(density, 1e-9) * max(1, tiers)
    return max(1, min(2**52, int(BUDGET / per_ms)))


async def advance(
    client: Client,
    key: str,
    rollups: Rollups,
    *,
    density: float,
    force: bool = False,
    finish: bool = False,
    until: int | None = None,
    on_step: Callable[[Advanced], None] | None = None,
) -> Advanced | None:
    """Fill the tiers of ``key`` forward until each reaches the bucket of the newest raw
    sample, or the last bucket ending by ``until`` (``force``: even while a backfill is
    pending; ``finish``: then clear it). ``density`` (raw samples per ms) sizes the steps;
    ``on_step`` hears after each. None: no tiers."""
    span = span_for(density, len(rollups.tiers))
    args = [span, int(force), int(finish)] + ([] if until is None else [until])
    while True:
        reply = await _call(client, functions.ADVANCE, key, rollups, args)
        if reply is None:
            return None
        step = Advanced(reply[0] == 1, tuple(None if h < 0 else h for h in reply[1:]))
        if on_step is not None:
            on_step(step)
        if step.done:
            return step


async def touch(
    client: Client, key: str, rollups: Rollups, ranges: Sequence[tuple[int, int]]
) -> int:
    """Recompute the filled tier buckets that overlap the raw time ``ranges`` (inclusive,
    any order); how many were recomputed."""
    ordered = sorted(ranges)
    done = 0
    for start in range(0, len(ordered), MAX_RANGES):
        flat: list[int] = []
        for a, z in ordered[start : start + MAX_RANGES]:
            flat += (a, z)
        reply = await _call(client, functions.TOUCH, key, rollups, flat)
        if reply is None:
            return done
        done += reply[0]
    return done


async def _call(
    client: Client, name: str, key: str, rollups: Rollups, args: list[int]
) -> list[int] | None:
    """One function call, its reply as a list of ints; the tiers are reread if they changed
    meanwhile. None: the series has no tiers (any more)."""
    for _ in range(3):
        reply = await functions.call(
            client, name, function_keys(key, rollups.tiers), [tiers_arg(rollups.tiers), *args]
        )
        values = [int(x) for x in reply] if isinstance(reply, list) else [int(reply)]
        if values[0] == NO_TIERS:
            return None
        if values[0] != STALE:
            return values
        fresh = (await load_rollups(client, [key])).get(key)
        if fresh is None:
            return None
        rollups = fresh
    log.warning("the tiers of %s kept changing during a %s call; skipped", key, name)
    return None
