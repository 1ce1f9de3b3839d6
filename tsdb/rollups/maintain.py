"""Keeping tiers filled: forward as raw samples arrive (or a backfill runs), and recomputed
where writes into the past, updates, merges and deletes changed raw samples.

Every call is one atomic Redis function call (``rollups.lua``), or for a writer's own
buckets a read-only check then a ``MULTI`` (:func:`put`), that aggregates at most about
:data:`BUDGET` raw samples per tier reading raw, so that no call holds Redis for long; the
loops here call again until the work is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from tsdb.connection import Client
from tsdb.faults import translate
from tsdb.functions import is_missing_function
from tsdb.resp import encode_samples, resp_text
from tsdb.rollups import functions
from tsdb.rollups.config import function_keys, load_rollups, part_key, tiers_arg
from tsdb.rollups.models import PARTS, Rollups

__all__ = ["BUDGET", "Advanced", "Buckets", "Put", "advance", "bucket_parts", "put", "touch"]

log = logging.getLogger(__name__)

BUDGET = 200_000
"""Raw samples a call aggregates at most (7 passes each: ~20 ms of Redis on 2 cores)."""
MAX_RANGES = 400
"""Changed ranges per touch call."""
PUT_BUCKETS = 2_000
"""Buckets per put call."""
STALE, NO_TIERS, PENDING = -2, -1, 2


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
    args: list[int | str] = [span, int(force), int(finish)]
    if until is not None:
        args.append(until)
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
    client: Client, key: str, rollups: Rollups, ranges: Sequence[tuple[int, int]], writer: str
) -> int:
    """Recompute the filled tier buckets that overlap the raw time ``ranges`` (inclusive,
    any order), and mark the rest as changed by ``writer`` (see :func:`put`); how many were
    recomputed."""
    ordered = sorted(ranges)
    done = 0
    for start in range(0, len(ordered), MAX_RANGES):
        flat: list[int | str] = [writer]
        for a, z in ordered[start : start + MAX_RANGES]:
            flat += (a, z)
        reply = await _call(client, functions.TOUCH, key, rollups, flat)
        if reply is None:
            return done
        done += reply[0]
    return done


@dataclass(frozen=True)
class Buckets:
    """Buckets of a tier computed from samples: their starts, and their parts (one row per
    part, in :data:`~tsdb.rollups.models.PARTS` order)."""

    starts: npt.NDArray[np.int64]
    parts: npt.NDArray[np.float64]


def bucket_parts(ts: npt.NDArray[np.int64], vs: npt.NDArray[np.float64], bucket: int) -> Buckets:
    """The parts of the buckets of width ``bucket`` that samples ``(ts, vs)`` (times
    increasing) fall in, as the module's aggregators compute them (var.p: the mean squared
    deviation, by two passes)."""
    index = ts // bucket
    cut = np.flatnonzero(index[1:] != index[:-1]) + 1
    begins = np.r_[0, cut]
    counts = np.diff(np.r_[begins, len(ts)])
    sums = np.add.reduceat(vs, begins)
    deviations = vs - np.repeat(sums / counts, counts)
    parts = np.stack(
        [
            sums,
            counts.astype(np.float64),
            np.minimum.reduceat(vs, begins),
            np.maximum.reduceat(vs, begins),
            vs[begins],
            vs[np.r_[cut - 1, len(ts) - 1]],
            np.add.reduceat(deviations * deviations, begins) / counts,
        ]
    )
    return Buckets(index[begins] * bucket, parts)


@dataclass(frozen=True)
class Put:
    """What :func:`put` left: whether a backfill is pending (it fills the tiers), and each
    tier's ``hi``."""

    pending: bool
    his: tuple[int | None, ...]


@dataclass(frozen=True)
class _Rows:
    """Buckets' parts as samples of the part series (:class:`tsdb.resp.SampleColumns`)."""

    keys: list[str]
    codes: npt.NDArray[np.int64]
    ts: npt.NDArray[np.int64]
    vs: npt.NDArray[np.float64]


async def put(
    client: Redis,
    key: str,
    rollups: Rollups,
    writer: str,
    buckets: Buckets,
    start: int,
    end: int,
    *,
    touch: Sequence[tuple[int, int]] = (),
) -> Put | None:
    """Put ``buckets`` of the finest tier, which ``writer`` computed from the samples it
    stored in ``[start, end)``, where raw holds exactly those samples, then fill the coarser
    tiers forward (raw samples answer where the writer's buckets cannot).

    For each chunk of buckets, ``rollups.lua``'s ``check`` says where they may go, with the
    state WATCHed; the buckets then land with plain TS.MADD (no Lua handling each value) in a
    MULTI with ``commit``. If the state changed meanwhile (another writer's fill, mark or
    change), the MULTI is dropped and raw samples answer. None: the series has no tiers, or
    not these ones (any more). ``touch``: raw time ranges (inclusive) ``writer`` stored since
    its last step, touched (see :func:`touch`) by the first ``commit`` (not when None or
    pending is answered)."""
    keys = function_keys(key, rollups.tiers)
    touched: list[int | str] = [writer] + [t for run in sorted(touch) for t in run] if touch else []
    names = [part_key(key, rollups.tiers[0], part) for part in PARTS]
    done: Put | None = None
    for first, last in _chunks(buckets.parts[1]):
        s = start if first == 0 else int(buckets.starts[first])
        e = end if last == len(buckets.starts) else int(buckets.starts[last])
        chunk = Buckets(buckets.starts[first:last], buckets.parts[:, first:last])
        with translate():
            for attempt in range(2):
                try:
                    async with functions.connection(client) as conn:
                        step = await _place(
                            conn, keys, names, rollups, writer, chunk, s, e, touched
                        )
                    break
                except ResponseError as exc:  # a flushed Redis lost the library: load it
                    if attempt or not is_missing_function(exc):
                        raise
                    await functions.load(client)
        if step is None or step.pending:
            return step
        touched = []
        done = step
    return done


def _chunks(counts: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Consecutive chunks of buckets: at most :data:`PUT_BUCKETS` of them, and at most
    :data:`BUDGET` samples (or one bucket), for calls that hold Redis as briefly as
    :func:`advance`'s."""
    total = np.cumsum(counts)
    chunks: list[tuple[int, int]] = []
    first, done = 0, 0.0
    while first < len(counts):
        last = int(np.searchsorted(total, done + BUDGET, side="right"))
        last = max(first + 1, min(last, first + PUT_BUCKETS))
        chunks.append((first, last))
        first, done = last, float(total[last - 1])
    return chunks


async def _place(
    conn: AbstractConnection,
    keys: list[str],
    names: list[str],
    rollups: Rollups,
    writer: str,
    buckets: Buckets,
    s: int,
    e: int,
    touched: list[int | str],
) -> Put | None:
    """One chunk of :func:`put` on one connection."""
    tiers = tiers_arg(rollups.tiers)
    check = resp_text("FCALL", functions.CHECK, len(keys), *keys, tiers, writer, s, e)
    await _send(conn, resp_text("WATCH", keys[1]).encode(), check.encode())
    await conn.read_response()
    verdict = [int(x) for x in await conn.read_response()]
    k = int(np.searchsorted(buckets.starts, verdict[1])) if verdict[0] == 1 else 0
    if verdict[0] == 1 and verdict[2] != int(buckets.parts[1, k:].sum()):
        verdict = [0]  # raw holds other samples than the writer's there
    if verdict[0] != 1:  # raw samples answer (0), or nothing is to be done here
        if verdict[0] != 0:
            await _send(conn, resp_text("UNWATCH").encode())
            await conn.read_response()
            return _put_reply(verdict)
        await _send(conn, resp_text("UNWATCH").encode(), _commit(keys, tiers, e, e, touched))
        await conn.read_response()
        return _put_reply(await conn.read_response())
    a = verdict[1]
    madd: list[bytes | memoryview] = []
    if k < len(buckets.starts):
        m = len(buckets.starts) - k
        rows = _Rows(
            names,
            np.repeat(np.arange(len(PARTS), dtype=np.int64), m),
            np.tile(buckets.starts[k:], len(PARTS)),
            np.ascontiguousarray(buckets.parts[:, k:]).ravel(),
        )
        body, _ = encode_samples(rows, 0, len(rows.ts))
        madd = [f"*{1 + 3 * len(rows.ts)}\r\n$7\r\nTS.MADD\r\n".encode(), body]
    # the touch goes first: the new buckets may push old ones out of a tier's retention,
    # and the touch may need those to recompute a coarser tier's buckets
    touch = [resp_text("FCALL", functions.TOUCH, len(keys), *keys, tiers, *touched).encode()]
    commands = [*(touch if touched else []), *madd, _commit(keys, tiers, a, e, [])]
    await _send(conn, resp_text("MULTI").encode(), *commands, b"*1\r\n$4\r\nEXEC\r\n")
    for _ in range(1 + len(commands) - (1 if madd else 0)):
        await conn.read_response()  # OK, QUEUED...
    done = await conn.read_response()
    if done is None:  # the state changed since the check: raw samples answer
        await _send(conn, _commit(keys, tiers, e, e, touched))
        return _put_reply(await conn.read_response())
    for reply in done:
        if isinstance(reply, Exception):
            raise reply
    return _put_reply(done[-1])


def _commit(keys: list[str], tiers: str, a: int, e: int, touched: list[int | str]) -> bytes:
    return resp_text("FCALL", functions.COMMIT, len(keys), *keys, tiers, a, e, *touched).encode()


async def _send(conn: AbstractConnection, *parts: bytes | memoryview) -> None:
    await conn.send_packed_command(list(parts), check_health=False)  # type: ignore[arg-type]


def _put_reply(reply: list[Any]) -> Put | None:
    values = [int(x) for x in reply]
    if values[0] in (NO_TIERS, STALE):
        return None
    if values[0] == PENDING:
        return Put(True, ())
    return Put(False, tuple(None if h < 0 else h for h in values[1:]))


async def _call(
    client: Client, name: str, key: str, rollups: Rollups, args: list[int | str]
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
