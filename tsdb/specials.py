"""Values RedisTimeSeries cannot store (NaN, ±Inf, Prometheus' staleness marker), kept in a
hidden companion of their series.

``TS.ADD`` refuses NaN and ±Inf alike ("TSDB: invalid value"; checked on RedisTimeSeries
1.12), and values travel as decimal text, so a NaN payload (the staleness marker is a NaN
with particular bits) could not survive either. Such samples are therefore not written to
the series at all: each goes to a companion **sorted set** (not a time series) under the
reserved prefix, :func:`tsdb.keys.special_key` (``tsapi:special:{<key>}``), scored by its
timestamp, with the member ``"<t>:<code>"`` (:data:`NAN`, :data:`STALE`, :data:`POS_INF`,
:data:`NEG_INF`). The set :func:`tsdb.keys.specials_registry_key` lists the series that have
one, so that a read asks only for the companions that exist.

Being sorted sets, companions are invisible to everything that works on series: ``SCAN``
for ``TSDB-TYPE``, label filters, the series index, ``/v1`` reads and listings (which
therefore do not show these samples; JSON has no NaN anyway). The PromQL source merges
them back (:func:`merge`). At one timestamp the last remote write wins, whatever the
series' duplicate policy: a special sample replaces the companion's code there, and a finite
one written later through remote write clears it (:func:`clear_at`; a finite value written
through ``/v1`` at a timestamp holding a code leaves the code, which wins on PromQL reads).
Deleting the series or a range of it (:func:`drop`, :func:`clear_range`) clears its codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tsdb.connection import Client
from tsdb.faults import translate
from tsdb.keys import special_key, specials_registry_key

__all__ = [
    "NAN",
    "NEG_INF",
    "POS_INF",
    "STALE",
    "clear_at",
    "clear_range",
    "codes_of",
    "drop",
    "merge",
    "read",
    "values_of",
    "with_companion",
    "write",
]

NAN, STALE, POS_INF, NEG_INF = 1, 2, 3, 4
STALE_BITS = 0x7FF0000000000002
_VALUES = np.array(
    [0, np.nan, np.uint64(STALE_BITS).view(np.float64), np.inf, -np.inf], dtype=np.float64
)


def codes_of(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    """The code of each value (0 for a finite one)."""
    codes = np.zeros(len(values), dtype=np.int8)
    codes[np.isnan(values)] = NAN
    codes[values.view(np.uint64) == STALE_BITS] = STALE
    codes[values == np.inf] = POS_INF
    codes[values == -np.inf] = NEG_INF
    return codes


def values_of(codes: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """The float each code stands for (the staleness marker with its exact bits)."""
    return _VALUES[np.asarray(codes, dtype=np.int64)]


async def write(
    client: Client,
    samples: Mapping[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]],
) -> int:
    """Store special samples ``{key: (timestamps, codes)}``; returns how many were stored."""
    if not samples:
        return 0
    pipe = client.pipeline(transaction=False)
    stored = 0
    for key, (ts, codes) in samples.items():
        companion = special_key(key)
        mapping: dict[str, int] = {}
        for t, code in zip(ts.tolist(), codes.tolist(), strict=True):
            pipe.zremrangebyscore(companion, t, t)
            mapping[f"{t}:{code}"] = t
        pipe.zadd(companion, mapping)
        stored += len(ts)
    pipe.sadd(specials_registry_key(), *samples)
    with translate():
        await pipe.execute()
    return stored


async def clear_at(
    client: Client,
    keys: Sequence[str],
    codes: npt.NDArray[np.int64],
    ts: npt.NDArray[np.int64],
    companions: set[str] | None = None,
) -> int:
    """Remove the codes at the timestamps where finite values were just written (sample
    ``i`` of series ``keys[codes[i]]`` at ``ts[i]``). Only series with a companion cost
    anything beyond one ``SMISMEMBER`` (none when the caller passes ``companions``, what
    :func:`with_companion` answered); returns how many codes went."""
    if not len(ts):
        return 0
    registered = await with_companion(client, keys) if companions is None else companions
    wanted = [(c, k) for c, k in enumerate(keys) if k in registered]
    if not wanted:
        return 0
    times = {}
    for code, key in wanted:
        picked = ts[codes == code]
        if len(picked):
            times[key] = set(picked.tolist())
    pipe = client.pipeline(transaction=False)
    for key, at in times.items():
        pipe.zrangebyscore(special_key(key), min(at), max(at))
    with translate():
        replies = await pipe.execute()
    pipe = client.pipeline(transaction=False)
    removed = 0
    for (key, at), members in zip(times.items(), replies, strict=True):
        stale = [m for m in members if int(m.split(":")[0]) in at]
        if stale:
            pipe.zrem(special_key(key), *stale)
            removed += len(stale)
    if removed:
        with translate():
            await pipe.execute()
    return removed


_ASK_FIRST = 64
"""From this many keys on, :func:`with_companion` first asks whether any series has a
companion at all: packing a command of thousands of keys costs more than that round trip."""


async def with_companion(client: Client, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` that have a companion (one ``SMISMEMBER``: the registry may hold
    every series that ever got a staleness marker; for many keys, an ``EXISTS`` of the
    registry first)."""
    if not keys:
        return set()
    with translate():
        if len(keys) >= _ASK_FIRST and not await client.exists(specials_registry_key()):
            return set()
        flags = await client.smismember(specials_registry_key(), list(keys))
    return {key for key, flag in zip(keys, flags, strict=True) if flag}


async def clear_range(client: Client, key: str, from_ts: int | None, to_ts: int | None) -> None:
    """Remove the codes of ``key`` between the bounds (inclusive; None: open)."""
    low = "-inf" if from_ts is None else from_ts
    high = "+inf" if to_ts is None else to_ts
    with translate():
        await client.zremrangebyscore(special_key(key), low, high)


async def drop(client: Client, key: str) -> None:
    """Remove the companion of a deleted series."""
    with translate():
        await client.unlink(special_key(key))
        await client.srem(specials_registry_key(), key)


async def read(
    client: Client, keys: Sequence[str], start_ms: int, end_ms: int
) -> dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """The special samples in ``[start_ms, end_ms]`` of those ``keys`` that have any."""
    if not keys:
        return {}
    registered = await with_companion(client, keys)
    wanted = [k for k in keys if k in registered]
    if not wanted:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in wanted:
        pipe.zrangebyscore(special_key(key), start_ms, end_ms)
    with translate():
        replies = await pipe.execute()
    found = {}
    for key, members in zip(wanted, replies, strict=True):
        if members:
            pairs = np.array([m.split(":") for m in members], dtype=np.int64)
            found[key] = (pairs[:, 0], values_of(pairs[:, 1]))
    return found


def merge(
    t: npt.NDArray[np.int64],
    v: npt.NDArray[np.float64],
    special_t: npt.NDArray[np.int64],
    special_v: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """A series' samples with its special ones merged in (a code wins at equal times)."""
    if not len(special_t):
        return t, v
    all_t = np.concatenate([special_t, t])
    all_v = np.concatenate([special_v, v])
    order = np.argsort(all_t, kind="stable")
    all_t, all_v = all_t[order], all_v[order]
    keep = np.ones(len(all_t), dtype=bool)
    keep[1:] = all_t[1:] != all_t[:-1]  # the first of equal times: the special one
    return all_t[keep], all_v[keep]
