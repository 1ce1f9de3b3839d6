"""Raw samples for the PromQL source: one ``TS.MRANGE ... WITHLABELS FILTER`` per selector,
its reply turned into numpy columns, and the special values (:mod:`tsdb.specials`) merged in.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from tsdb import specials
from tsdb.connection import Client
from tsdb.errors import InvalidQuery
from tsdb.faults import translate
from tsdb.filters import parse_filters
from tsdb.mrange_reply import Joined, Parsed, Unusual

__all__ = ["RawSeries", "range_by_keys", "range_matching"]

_EMPTY_T = np.empty(0, dtype=np.int64)
_EMPTY_V = np.empty(0, dtype=np.float64)


@dataclass
class RawSeries:
    """One series' key, labels and samples (int64 ms, float64)."""

    key: str
    labels: dict[str, str]
    t: npt.NDArray[np.int64]
    v: npt.NDArray[np.float64]


def _columns(points: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    if not points:
        return _EMPTY_T, _EMPTY_V
    # ms timestamps are exact in a double; fromiter over the flat pairs is twice as fast
    # as np.array over the nested lists
    flat = np.fromiter(chain.from_iterable(points), dtype=np.float64, count=2 * len(points))
    return flat[0::2].astype(np.int64), flat[1::2].copy()


def _as_map(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return dict(zip(value[::2], value[1::2], strict=False))


async def _command(client: Client, *args: Any) -> Any:
    with translate(refused=InvalidQuery):
        if isinstance(client, RedisCluster):
            node = client.get_default_node()
            return await client.execute_command(*args, target_nodes=node)
        return await client.execute_command(*args)


async def _with_specials(client: Client, found: list[RawSeries], start: int, end: int) -> None:
    extra = await specials.read(client, [s.key for s in found], start, end)
    for series in found:
        if series.key in extra:
            series.t, series.v = specials.merge(series.t, series.v, *extra[series.key])


SLICE_MS = 3 * 3_600_000
"""A ``TS.MRANGE`` over a longer span is read in up to :data:`SLICES` consecutive time
slices, one after the other on one connection: Redis produces the next slice's reply while
this process parses the previous one."""
SLICES = 8


def _slices(start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """``[start_ms, end_ms]`` (inclusive, ms) cut into consecutive inclusive slices."""
    count = max(1, min(SLICES, (end_ms - start_ms) // SLICE_MS))
    bounds = [start_ms + (end_ms - start_ms + 1) * i // count for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(count)]


class _NotRaw(Exception):
    """The reply cannot be read raw: read it through redis-py."""


async def _mrange_raw(client: Redis, commands: Sequence[Sequence[Any]]) -> Parsed:
    """The replies of ``commands`` (``TS.MRANGE`` of consecutive time slices, the first
    ``WITHLABELS``), parsed from their raw RESP3 bytes (:mod:`tsdb.mrange_reply`) on one
    pooled connection and joined per series. The next command is sent once the previous
    reply is all here, so that Redis works on it while this process parses. (Sent any
    sooner, it keeps Redis, which has one thread, from writing out the rest of the previous
    reply until it is done: this process then waits for both.)

    Each command is followed by an ``ECHO`` of a random token: its reply (found in the
    bytes) ends the command's reply, whose own structure the parser checks to end exactly
    there. Raises :class:`_NotRaw` when the connection does not speak RESP3 or a reply is
    not of the usual shape."""
    if client.get_connection_kwargs().get("protocol") not in (3, "3"):
        raise _NotRaw
    pool = client.connection_pool
    conn = await pool.get_connection()
    clean = False
    try:
        reader = getattr(conn, "_reader", None)
        if reader is None or not conn.is_connected:
            raise _NotRaw
        tokens = [secrets.token_hex(16) for _ in commands]
        tails = [f"${len(tok)}\r\n{tok}\r\n".encode() for tok in tokens]
        packed = [
            conn.pack_commands([c, ("ECHO", tok)]) for c, tok in zip(commands, tokens, strict=True)
        ]
        await conn.send_packed_command(packed[0])
        data = bytearray()
        joined = Joined(len(commands))
        for i, tail in enumerate(tails):
            at, seen = -1, 0
            while True:
                at = data.find(tail, seen)
                if at >= 0:
                    break
                seen = max(0, len(data) - len(tail))  # only new bytes are searched next
                async with asyncio.timeout(conn.socket_timeout):  # as redis-py reads
                    chunk = await reader.read(1 << 22)
                if not chunk:
                    raise ConnectionError("connection closed while reading a reply")
                data += chunk
            if i + 1 < len(commands):
                await conn.send_packed_command(packed[i + 1])
            if data[:1] != b"%":
                raise _NotRaw
            try:
                joined.add(data, at)  # the token's reply follows: no copy for padding
            except Unusual:
                raise _NotRaw from None
            data = data[at + len(tail) :]
        clean = not data
        return joined.series()
    finally:
        if not clean:
            await conn.disconnect()
        await pool.release(conn)


async def _mrange(
    client: Client, start_ms: int, end_ms: int, filters: Sequence[str]
) -> list[tuple[str, Any, Any, Any]]:
    """``(key, labels, t, v)`` per series of ``TS.MRANGE start end WITHLABELS FILTER ...``:
    the raw replies of consecutive time slices read in bulk and joined, or one reply
    parsed by hiredis when they cannot be."""
    if isinstance(client, Redis):
        # labels once: the first slice's (later slices list the same series)
        commands = [
            ("TS.MRANGE", a, b, *(("WITHLABELS",) if i == 0 else ()), "FILTER", *filters)
            for i, (a, b) in enumerate(_slices(start_ms, end_ms))
        ]
        try:
            with translate(refused=InvalidQuery):
                return list(await _mrange_raw(client, commands))
        except _NotRaw:
            pass
    reply = await _command(client, "TS.MRANGE", start_ms, end_ms, "WITHLABELS", "FILTER", *filters)
    out = []
    for key, value in _as_map(reply).items():
        t, v = _columns(value[-1])
        out.append((key, _as_map(value[0]), t, v))
    return out


async def range_matching(
    client: Client, filters: Sequence[str], start_ms: int, end_ms: int
) -> list[RawSeries]:
    """Every series the label filters select, with its labels and samples in the span
    (``TS.MRANGE``, in time slices for long spans), special values merged in."""
    checked = parse_filters(filters)
    found = []
    for key, labels, t, v in await _mrange(client, max(start_ms, 0), max(end_ms, 0), checked):
        found.append(RawSeries(key, {k: x for k, x in labels.items() if x is not None}, t, v))
    await _with_specials(client, found, start_ms, end_ms)
    return found


async def range_by_keys(
    client: Client, keys: Sequence[str], start_ms: int, end_ms: int
) -> list[RawSeries]:
    """The named series that exist, with labels and samples in the span (one pipeline of
    ``TS.RANGE``, one of ``TS.INFO`` for the labels), special values merged in."""
    if not keys:
        return []
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("TS.RANGE", key, max(start_ms, 0), max(end_ms, 0))
    with translate():
        replies = await pipe.execute(raise_on_error=False)
    present = [(k, r) for k, r in zip(keys, replies, strict=True) if not isinstance(r, Exception)]
    if not present:
        return []
    pipe = client.pipeline(transaction=False)
    for key, _ in present:
        pipe.execute_command("TS.INFO", key)
    with translate():
        infos = await pipe.execute(raise_on_error=False)
    found = []
    for (key, points), info in zip(present, infos, strict=True):
        if isinstance(info, Exception):
            continue
        raw = _as_map(info).get("labels") or {}
        labels = {str(k): str(v) for k, v in _label_pairs(raw) if v is not None}
        t, v = _columns(points)
        found.append(RawSeries(key, labels, t, v))
    await _with_specials(client, found, start_ms, end_ms)
    return found


def _label_pairs(raw: Any) -> list[tuple[Any, Any]]:
    if isinstance(raw, dict):
        return list(raw.items())
    return [(p[0], p[1]) for p in raw]
