"""The Redis functions that fill tiers (``rollups.lua``), and calling them.

The library is loaded on first use by each client (``FUNCTION LOAD REPLACE``, on every
primary of a cluster), and again when a call finds it missing (a flushed or new Redis).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from tsdb.connection import Client
from tsdb.faults import translate
from tsdb.functions import is_missing_function, load_library
from tsdb.resp import resp_text

__all__ = ["ADVANCE", "LIBRARY", "PUT", "TOUCH", "call", "call_packed", "load"]

LIBRARY = Path(__file__).with_name("rollups.lua").read_text()
ADVANCE = "tsapi_rollup_advance"
TOUCH = "tsapi_rollup_touch"
PUT = "tsapi_rollup_put"

_loaded: weakref.WeakSet[Any] = weakref.WeakSet()


async def load(client: Client) -> None:
    """Install (or replace) the library on every primary."""
    await load_library(client, LIBRARY)
    _loaded.add(client)


async def call(client: Client, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """``FCALL name`` with ``keys`` and ``args``, loading the library when it is missing."""
    if client not in _loaded:
        await load(client)
    with translate():
        try:
            return await client.execute_command("FCALL", name, len(keys), *keys, *args)
        except ResponseError as exc:
            if not is_missing_function(exc):
                raise
    await load(client)
    with translate():
        return await client.execute_command("FCALL", name, len(keys), *keys, *args)


async def call_packed(
    client: Redis,
    name: str,
    keys: Sequence[str],
    args: Sequence[Any],
    tail: memoryview,
    tail_count: int,
) -> Any:
    """:func:`call` with ``tail_count`` more arguments after ``args``, already encoded as
    RESP bulk strings in ``tail`` (built by :mod:`tsdb.resp`, no Python object per argument).
    A standalone Redis only: the bytes go on a connection of the client's pool."""
    if client not in _loaded:
        await load(client)
    head = resp_text("FCALL", name, len(keys), *keys, *args, more=tail_count).encode()
    for attempt in range(2):
        with translate():
            conn = await client.connection_pool.get_connection()
            try:
                await conn.send_packed_command([head, tail], check_health=False)
                return await conn.read_response()
            except ResponseError as exc:
                if attempt or not is_missing_function(exc):
                    raise
            except BaseException:
                await conn.disconnect()  # a reply may still be on its way
                raise
            finally:
                await client.connection_pool.release(conn)
        await load(client)
    raise AssertionError("unreachable")
