"""The Redis functions that fill tiers (``rollups.lua``), and calling them.

The library is loaded on first use by each client (``FUNCTION LOAD REPLACE``, on every
primary of a cluster), and again when a call finds it missing (a flushed or new Redis).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from tsdb.connection import Client
from tsdb.faults import translate
from tsdb.functions import is_missing_function, load_library

__all__ = ["ADVANCE", "CHECK", "COMMIT", "LIBRARY", "TOUCH", "call", "connection", "load"]

LIBRARY = Path(__file__).with_name("rollups.lua").read_text()
ADVANCE = "tsapi_rollup_advance"
TOUCH = "tsapi_rollup_touch"
CHECK = "tsapi_rollup_check"
COMMIT = "tsapi_rollup_commit"

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


@contextlib.asynccontextmanager
async def connection(client: Redis) -> AsyncIterator[AbstractConnection]:
    """A connection of the client's pool for commands sent as bytes (see
    :func:`tsdb.rollups.maintain.put`), with the library loaded; dropped if anything failed,
    since replies may still be on their way (and a WATCH still set)."""
    if client not in _loaded:
        await load(client)
    with translate():
        conn = await client.connection_pool.get_connection()
    try:
        yield conn
    except BaseException:
        await conn.disconnect()
        raise
    finally:
        await client.connection_pool.release(conn)
