"""tsapi's Redis functions (``functions.lua``): series changes that must be atomic in Redis.

:func:`load_functions` installs the library on every primary (``FUNCTION LOAD REPLACE``);
Redis keeps it in its AOF and RDB, so a restart keeps it too. Processes load it when they
start (the API, workers, ``tsapi index``), and again when a call finds it missing.
"""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import RedisCluster

from tsdb.connection import Client
from tsdb.faults import translate

__all__ = [
    "ALTER",
    "CREATE",
    "DELETE",
    "ENSURE",
    "INDEX_CLEAR",
    "INDEX_SCAN",
    "LABELS",
    "LIBRARY",
    "SERIES_SCAN",
    "SET_POINT",
    "is_missing_function",
    "load_functions",
    "load_library",
]

LIBRARY = (Path(__file__).with_name("functions.lua")).read_text()
ENSURE = "tsapi_ensure"
CREATE = "tsapi_create"
ALTER = "tsapi_alter"
DELETE = "tsapi_delete"
INDEX_SCAN = "tsapi_index_scan"
SERIES_SCAN = "tsapi_series_scan"
LABELS = "tsapi_labels"
INDEX_CLEAR = "tsapi_index_clear"
SET_POINT = "tsapi_set_point"


async def load_functions(client: Client) -> None:
    """Install (or replace) the library on every primary."""
    await load_library(client, LIBRARY)


async def load_library(client: Client, library: str) -> None:
    """Install (or replace) a Redis function library on every primary."""
    with translate():
        if isinstance(client, RedisCluster):
            await client.execute_command(
                "FUNCTION", "LOAD", "REPLACE", library, target_nodes=client.get_primaries()
            )
        else:
            await client.execute_command("FUNCTION", "LOAD", "REPLACE", library)


def is_missing_function(error: BaseException) -> bool:
    """True for the error of an FCALL to a function Redis does not have (flushed, or a new
    Redis behind the same address)."""
    return "Function not found" in str(error)
