"""The calls the rest of the data layer makes so that tiers follow every change of raw data.

- :class:`WriteTracker`: the bulk writer (every write path: per series, bulk, InfluxDB, jobs'
  write-back) tells it what it created and stored; when the write finishes, new series that
  a policy selects get their tiers, and the series with tiers have the buckets the write
  touched recomputed and their tiers filled forward.
- :func:`changed`: after ``PUT .../points/{t}`` and range deletes.
- :func:`created`, :func:`dropped`: a series made (policies) or deleted (its tiers go too).
- :func:`listed`: keeps tier series out of listings.

A write is acknowledged once its tiers follow it; if updating them fails, the write fails
(writing it again, as LAST duplicate policies allow, brings the tiers back in step).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from tsdb.connection import Client
from tsdb.faults import translate
from tsdb.keys import is_tsapi_series, rollup_policies_key, rollups_index_key
from tsdb.rollups import maintain
from tsdb.rollups.config import drop_tiers, load_rollups, note_retention, set_tiers
from tsdb.rollups.models import Policy, Rollups
from tsdb.rollups.policies import load_policies, policy_for

__all__ = ["WriteTracker", "altered", "changed", "created", "dropped", "listed"]

log = logging.getLogger(__name__)

CONCURRENCY = 8
"""Series whose tiers one finishing write updates at a time."""
CARRY_SAMPLES = 2_000_000
"""Samples a write keeps at most for the buckets it computes itself (32 MB; a series that
would pass it, one whose finest buckets hold very many samples, is filled from raw)."""
STEP_SAMPLES = 20_000
"""Samples of a series acknowledged before a background step follows them (fewer, bigger
steps cost Redis less; the last step, when the write finishes, takes the rest)."""
MAX_TS = 2**53 - 1


def listed(keys: Iterable[str]) -> list[str]:
    """``keys`` without the series tsapi keeps for itself (the parts of rollup tiers).

    Listings that scan every series call this; label queries need nothing: tier series carry
    only ``tsapi_`` labels, which no user's series can have, so only a filter that asks for
    them by such a label finds them."""
    return [k for k in keys if not is_tsapi_series(k)]


class WriteTracker:
    """What one bulk write created and stored, for the tiers of the series it touched.

    As the writer's batches are acknowledged, the tiers of their series follow in the
    background (one chain of steps per series), so that Redis fills them while the API parses
    the next batch: a created series first gets its policy's tiers; then each step recomputes
    the filled buckets the batches acknowledged since touched (a bucket filled before a sample
    of it arrived), and fills the tiers forward, but not over the writer's own samples still
    on their way (so that its appends are never recomputed). :meth:`finish` waits for the
    steps and takes a last one per series. ``labels`` are the writer's labels for series it
    creates (each batch may add its own).

    Filling forward is cheapest from the writer's own samples: while the samples it stored
    of a series come in increasing time, it keeps those no step has covered yet, and a step
    computes their complete buckets of the finest tier here (:func:`maintain.bucket_parts`)
    and puts them (:func:`maintain.put`); Redis checks that raw holds exactly those samples
    there and no other writer marked the range, and aggregates raw samples where not. Samples
    out of order (or not finite) send that series back to filling from raw samples.
    """

    def __init__(self, client: Client, labels: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.labels = dict(labels or {})
        self._active: bool | None = None  # any series with tiers, or any policy?
        self._policies = False
        self._policy_list: list[Policy] | None = None
        self._rollups: dict[str, Rollups | None] = {}
        self._runs: dict[str, list[tuple[int, int]]] = {}
        self._stats: dict[str, tuple[int, int, int]] = {}  # key -> (count, first, last)
        self._created: set[str] = set()
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._queued: set[str] = set()  # series with a step waiting to start
        self._inflight: deque[dict[str, int]] = deque()  # sent batches: key -> oldest sample
        self._unfollowed: dict[str, int] = {}  # samples acknowledged since the last step
        self._limit = asyncio.Semaphore(CONCURRENCY)  # steps running at once (connections)
        self.tiered = False  # some series this write touched has tiers
        self.writer = secrets.token_hex(8)  # names this write's marks (rollups.lua)
        self._carry: dict[str, _Carry] = {}  # samples stored in order, no put covers yet
        self._no_put: set[str] = set()  # series this write does not put buckets of
        self._carried = 0  # samples in self._carry

    async def prepare(
        self, keys: Sequence[str], codes: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]
    ) -> None:
        """A sorted batch (by series, then time) is about to be sent: learn which of its
        series have tiers, and note its oldest sample of each as on its way."""
        oldest = {keys[int(codes[i])]: int(ts[i]) for i in _starts(codes).tolist()}
        await self._learn(list(oldest))
        if self._active:
            self._inflight.append(oldest)

    def ask(self, pipe: Any) -> bool:
        """Queue on ``pipe`` what the tracker needs to know before the first batch (whether
        any series has tiers or any policy exists); False when it knows already."""
        if self._active is not None:
            return False
        pipe.exists(rollups_index_key())
        pipe.exists(rollup_policies_key())
        return True

    def told(self, has_tiers: int, has_policies: int) -> None:
        """The replies of what :meth:`ask` queued."""
        self._policies = bool(has_policies)
        self._active = bool(has_tiers) or self._policies

    async def _learn(self, keys: Sequence[str]) -> None:
        if self._active is None:
            pipe = self.client.pipeline(transaction=False)
            self.ask(pipe)
            with translate():
                self.told(*await pipe.execute())
        if not self._active:
            return
        new = [k for k in keys if k not in self._rollups]
        if new:
            found = await load_rollups(self.client, new)
            self._rollups.update({k: found.get(k) for k in new})
            self.tiered = self.tiered or bool(found)

    def ensured(self, key: str, created: bool, labels: Mapping[str, str]) -> None:
        """``tsapi_ensure`` made sure series ``key`` exists: if it created it, give it (soon)
        the tiers of a policy that selects it (``labels`` on top of the writer's)."""
        if self._policies and created:
            self._created.add(key)
            wanted = {**self.labels, **labels}
            self._chain(key, lambda: self._apply_policy(key, wanted))

    def stored(
        self,
        keys: Sequence[str],
        codes: npt.NDArray[np.int64],
        ts: npt.NDArray[np.int64],
        vs: npt.NDArray[np.float64],
        stored: npt.NDArray[np.bool_],
    ) -> None:
        """Samples ``(ts, vs)`` of a sorted batch (by series, then time) the server stored."""
        if not self._active:
            return
        if self._inflight:
            self._inflight.popleft()  # this batch has arrived
        if not stored.any():
            return
        changes = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
        for start, end in zip(changes[:-1].tolist(), changes[1:].tolist(), strict=True):
            key = keys[int(codes[start])]
            rollups = self._rollups.get(key)
            if rollups is None and key not in self._created:
                continue
            times = ts[start:end][stored[start:end]]
            if not len(times):
                continue
            self._keep(key, times, vs[start:end][stored[start:end]])
            count, first, last = self._stats.get(key, (0, int(times[0]), int(times[-1])))
            self._stats[key] = (
                count + len(times),
                min(first, int(times[0])),
                max(last, int(times[-1])),
            )
            if rollups is not None:
                self._runs.setdefault(key, []).extend(_runs(times, rollups.tiers[0].bucket_ms))
            self._unfollowed[key] = self._unfollowed.get(key, 0) + len(times)
            if key not in self._queued and self._unfollowed[key] >= STEP_SAMPLES:
                self._queued.add(key)
                self._chain(key, lambda key=key: self._step(key))  # type: ignore[misc]

    def _keep(
        self, key: str, times: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> None:
        """Keep stored samples for the next put, while the series' come in increasing time."""
        if key in self._no_put or not isinstance(self.client, Redis):
            return
        carry = self._carry.get(key)
        if (
            (carry is not None and times[0] <= carry.last)
            or (len(times) > 1 and not bool(np.all(times[1:] > times[:-1])))
            or not bool(np.isfinite(values).all())
            or self._carried + len(times) > CARRY_SAMPLES
        ):
            self._stop_keeping(key)
            return
        if carry is None:
            carry = self._carry[key] = _Carry()
        carry.add(times, values)
        self._carried += len(times)

    def _stop_keeping(self, key: str) -> None:
        """Fill the tiers of ``key`` from raw samples for the rest of this write."""
        self._no_put.add(key)
        carry = self._carry.pop(key, None)
        if carry is not None:
            self._carried -= carry.size

    async def finish(self) -> None:
        """Wait for the background steps; recompute the buckets writes into the past touched;
        fill every written series' tiers up to the bucket of its newest sample."""
        if not self._active:
            return
        await asyncio.gather(*self._chains.values())
        self._chains.clear()
        self._inflight.clear()
        keys = [k for k, r in self._rollups.items() if r is not None and k in self._stats]

        async def last_step(key: str) -> None:
            async with self._limit:
                await self._step(key)

        await asyncio.gather(*(last_step(k) for k in keys))

    def _chain(self, key: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` for ``key`` after the steps already queued for it."""
        previous = self._chains.get(key)

        async def run() -> None:
            if previous is not None:
                await previous
            async with self._limit:
                await step()

        task = asyncio.get_running_loop().create_task(run())
        task.add_done_callback(_retrieved)
        self._chains[key] = task

    async def _apply_policy(self, key: str, labels: Mapping[str, str]) -> None:
        if self._policy_list is None:
            self._policy_list = await load_policies(self.client)
        policy = policy_for(self._policy_list, labels)
        if policy is None:
            self._stop_keeping(key)
            return
        rollups = Rollups(policy.tiers, f"policy:{policy.name}")
        await set_tiers(self.client, key, rollups, backfill=False)
        self._rollups[key] = rollups
        self.tiered = True

    async def _step(self, key: str) -> None:
        """Recompute the filled buckets the acknowledged samples fell into (a bucket filled
        before they arrived misses them: written into the past, or by another writer), then
        fill forward up to the writer's samples still on their way."""
        self._queued.discard(key)
        self._unfollowed[key] = 0
        rollups = self._rollups.get(key)
        if rollups is None:
            return
        runs, self._runs[key] = self._runs.get(key, []), []
        count, first, last = self._stats[key]
        on_way = [batch[key] for batch in self._inflight if key in batch]
        if key in self._carry and await self._put(key, rollups, runs, min(on_way, default=None)):
            return
        if runs:
            await maintain.touch(self.client, key, rollups, runs, self.writer)
        await maintain.advance(
            self.client,
            key,
            rollups,
            density=count / (last - first + 1),
            until=min(on_way) if on_way else None,
        )

    async def _put(
        self, key: str, rollups: Rollups, runs: list[tuple[int, int]], on_way: int | None
    ) -> bool:
        """Touch ``runs`` (see :meth:`_step`) and put the complete buckets of the finest tier
        that the kept samples of ``key`` make (not the bucket of the newest, nor any a sample
        still on its way falls in), the touch with the put where it can; False when the
        tiers must be filled from raw samples instead (``runs`` untouched)."""
        assert isinstance(self.client, Redis)
        carry = self._carry[key]
        bucket = rollups.tiers[0].bucket_ms
        end = carry.last // bucket * bucket
        if on_way is not None:
            end = min(end, on_way // bucket * bucket)
        ts, vs = carry.samples()
        complete = int(np.searchsorted(ts, end))
        if runs and (not complete or len(runs) > maintain.MAX_RANGES):
            await maintain.touch(self.client, key, rollups, runs, self.writer)
            runs = []
        if not complete:
            return True
        buckets = maintain.bucket_parts(ts[:complete], vs[:complete], bucket)
        start = int(buckets.starts[0])
        done = await maintain.put(
            self.client, key, rollups, self.writer, buckets, start, end, touch=runs
        )
        if done is None:  # the tiers changed: fill from raw samples
            self._stop_keeping(key)
            return False
        if done.pending:  # the backfill fills forward; filled buckets still need the touch
            self._carried -= carry.drop_before(end)
            return False
        self._carried -= carry.drop_before(end if done.his[0] is None else max(end, done.his[0]))
        return True


@dataclass
class _Carry:
    """A writer's samples of one series (increasing times) that no put has covered yet."""

    last: int = -1  # the newest time stored, covered or not
    _ts: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _vs: list[npt.NDArray[np.float64]] = field(default_factory=list)

    def add(self, ts: npt.NDArray[np.int64], vs: npt.NDArray[np.float64]) -> None:
        self._ts.append(ts)
        self._vs.append(vs)
        self.last = int(ts[-1])

    def samples(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        if len(self._ts) > 1:
            self._ts, self._vs = [np.concatenate(self._ts)], [np.concatenate(self._vs)]
        if not self._ts:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        return self._ts[0], self._vs[0]

    @property
    def size(self) -> int:
        return sum(len(ts) for ts in self._ts)

    def drop_before(self, t: int) -> int:
        """Forget the samples before ``t`` (a put covered them); how many."""
        ts, vs = self.samples()
        keep = int(np.searchsorted(ts, t))
        self._ts, self._vs = ([ts[keep:]], [vs[keep:]]) if keep < len(ts) else ([], [])
        return keep


def _starts(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Where each series' run starts in a batch sorted by series."""
    return (
        np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.empty(0, np.intp)
    )


def _retrieved(task: asyncio.Task[None]) -> None:
    """Mark a background step's error as seen (:meth:`WriteTracker.finish` raises it)."""
    if not task.cancelled():
        task.exception()


def _runs(times: npt.NDArray[np.int64], bucket: int) -> list[tuple[int, int]]:
    """``times`` (sorted) as ``(first, last)`` runs whose samples fall in adjacent buckets."""
    index = times // bucket
    breaks = np.flatnonzero(np.diff(index) > 1)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(times) - 1]
    return list(zip(times[starts].tolist(), times[ends].tolist(), strict=True))


async def changed(
    client: Client, key: str, ranges: Sequence[tuple[int | None, int | None]]
) -> None:
    """Raw samples of ``key`` changed in ``ranges`` (inclusive; None: open): recompute the
    tier buckets they touch, and fill forward."""
    rollups = (await load_rollups(client, [key])).get(key)
    if rollups is None:
        return
    bounded = [(0 if a is None else a, MAX_TS if z is None else min(z, MAX_TS)) for a, z in ranges]
    await maintain.touch(client, key, rollups, bounded, f"change:{secrets.token_hex(8)}")
    await maintain.advance(client, key, rollups, density=await _density(client, key))


async def _density(client: Client, key: str) -> float:
    """Raw samples per ms of ``key``, on average."""
    with translate():
        info = await client.execute_command("TS.INFO", key)
    info = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=False))
    total = int(info.get("totalSamples", 0))
    if total < 2:
        return 1e-9
    return total / max(1, int(info["lastTimestamp"]) - int(info["firstTimestamp"]))


async def created(client: Client, key: str, labels: Mapping[str, str] | None) -> None:
    """A series was created with ``labels``: give it the tiers of a policy that selects it."""
    with translate():
        if not await client.exists(rollup_policies_key()):
            return
    policy = policy_for(await load_policies(client), labels or {})
    if policy is not None:
        rollups = Rollups(policy.tiers, f"policy:{policy.name}")
        await set_tiers(client, key, rollups, backfill=False)


async def altered(client: Client, key: str, retention_ms: int | None) -> None:
    """A series was altered: its tiers need to know a new retention."""
    if retention_ms is not None:
        await note_retention(client, key, retention_ms)


async def dropped(client: Client, key: str) -> None:
    """A series was deleted: its tiers go too."""
    await drop_tiers(client, key)
