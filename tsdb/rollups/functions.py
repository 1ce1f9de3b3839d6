"""The Redis functions that fill tiers (``rollups.lua``), and calling them.

The library is loaded on first use by each client (``FUNCTION LOAD REPLACE``, on every
primary of a cluster), and again when a call finds it missing (a flushed or new Redis).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import ResponseError

from tsdb.connection import Client
from tsdb.faults import translate
from tsdb.functions import is_missing_function, load_library

__all__ = ["ADVANCE", "LIBRARY", "TOUCH", "call", "load"]

LIBRARY = Path(__file__).with_name("rollups.lua").read_text()
ADVANCE = "tsapi_rollup_advance"
TOUCH = "tsapi_rollup_touch"

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
