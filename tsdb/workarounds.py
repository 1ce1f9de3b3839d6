"""Requests that would crash the RedisTimeSeries module in use, refused before they are sent.

RedisTimeSeries 1.12.2 (the version of the embedded Redis Stack, and of Redis Stack 7.4)
crashes Redis (SIGSEGV in ``SeriesDelRange``) on a ``TS.DEL`` that removes the newest
samples of a series with compaction rules but keeps older ones: for instance
``TS.DEL src <t> +`` on a series with a rule, when samples older than ``t`` remain. A crash
takes every client down and loses up to a second of acknowledged writes (``appendfsync
everysec``), so tsapi refuses such a delete (:class:`DeleteRefused`, a 409): deleting the
whole series' range, or a range that ends before its newest sample, is fine.
"""

from __future__ import annotations

from typing import Protocol

from tsdb.errors import DeleteRefused
from tsdb.models import SeriesInfo

__all__ = ["check_delete_range"]


class _Infos(Protocol):
    async def info(self, key: str) -> SeriesInfo: ...


async def check_delete_range(
    store: _Infos, key: str, from_ts: int | None, to_ts: int | None
) -> None:
    """Raise :class:`DeleteRefused` for a ``TS.DEL`` that would crash the module."""
    info = await store.info(key)
    if not info.rules or info.first_timestamp is None or info.last_timestamp is None:
        return
    keeps_older = from_ts is not None and from_ts > info.first_timestamp
    takes_newest = to_ts is None or to_ts >= info.last_timestamp
    if keeps_older and takes_newest:
        raise DeleteRefused(
            f"{key} has compaction rules: deleting its newest samples while keeping older ones "
            "would crash RedisTimeSeries 1.12 (a module bug); delete up to before the newest "
            "sample, delete the whole range, or remove the rules first"
        )
