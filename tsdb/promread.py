"""Raw samples for the PromQL source: one ``TS.MRANGE ... WITHLABELS FILTER`` per selector,
its reply turned into numpy columns, and the special values (:mod:`tsdb.specials`) merged in.
"""

from __future__ import annotations

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
from tsdb.mrange_reply import Unusual, parse_mrange

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


async def _mrange_bytes(client: Redis, args: Sequence[Any]) -> tuple[bytes, int] | None:
    """The raw RESP3 bytes of one command's reply on a pooled connection, and where the
    reply ends; None when the connection does not speak RESP3 or cannot be read raw.

    An ``ECHO`` of a random token follows the command in the same write, so the reply is
    complete once the bytes end with the token's reply; the parser then checks that the
    reply's own structure ends exactly there."""
    if client.get_connection_kwargs().get("protocol") not in (3, "3"):
        return None
    token = secrets.token_hex(16)
    tail = f"${len(token)}\r\n{token}\r\n".encode()
    pool = client.connection_pool
    conn = await pool.get_connection()
    clean = False
    try:
        reader = getattr(conn, "_reader", None)
        if reader is None or not conn.is_connected:
            return None
        await conn.send_packed_command(conn.pack_commands([args, ("ECHO", token)]))
        data = bytearray()
        while not data.endswith(tail):
            chunk = await reader.read(1 << 22)
            if not chunk:
                raise ConnectionError("connection closed while reading a reply")
            data += chunk
        clean = True
        return bytes(data), len(data) - len(tail)
    finally:
        if not clean:
            await conn.disconnect()
        await pool.release(conn)


async def _mrange(client: Client, args: Sequence[Any]) -> list[tuple[str, Any, Any, Any]]:
    """``(key, labels, t, v)`` per series of a ``TS.MRANGE ... WITHLABELS``: the reply's
    bytes parsed by numpy (:mod:`tsdb.mrange_reply`), or by hiredis when they cannot be."""
    if isinstance(client, Redis):
        with translate(refused=InvalidQuery):
            got = await _mrange_bytes(client, args)
        if got is not None and got[0][:1] == b"%":
            try:
                return parse_mrange(*got)
            except Unusual:
                pass
    reply = await _command(client, *args)
    out = []
    for key, value in _as_map(reply).items():
        t, v = _columns(value[-1])
        out.append((key, _as_map(value[0]), t, v))
    return out


async def range_matching(
    client: Client, filters: Sequence[str], start_ms: int, end_ms: int
) -> list[RawSeries]:
    """Every series the label filters select, with its labels and samples in the span
    (one ``TS.MRANGE``), special values merged in."""
    args = (
        "TS.MRANGE", max(start_ms, 0), max(end_ms, 0), "WITHLABELS",
        "FILTER", *parse_filters(filters),
    )  # fmt: skip
    found = []
    for key, labels, t, v in await _mrange(client, args):
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
