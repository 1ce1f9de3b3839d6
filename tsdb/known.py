"""Series a process has seen settled, so that bulk writes can skip ``tsapi_ensure`` for them.

Every bulk write used to ask ``tsapi_ensure`` about every series it wrote to (exists? its
retention? index entry? time for large chunks?), even when the same process had asked about
the same series a moment before: a Prometheus remote write of 1,100 series every few seconds
spent a fifth of Redis' time on those answers. :class:`KnownSeries` remembers the series
whose answer cannot change by itself: they exist, are indexed, keep their samples forever
(nothing a write adds can push older ones out, so the written count needs no retention) and
are already at the large chunk size.

What can change the answer is another writer altering or deleting a series. tsapi's
``tsapi_alter`` and ``tsapi_delete`` functions (and an index rebuild) bump a generation
number next to the index (``<index prefix>generation``); a writer reads it once
(:meth:`KnownSeries.sync`) and the memory is dropped whenever it moved. A series deleted
behind tsapi's back (``DEL``, ``FLUSHDB``) makes its samples fail with "does not exist": the
writer forgets it and writes them again through ``tsapi_ensure``
(:class:`tsdb.bulk.BulkWriter`).
"""

from __future__ import annotations

import secrets
from typing import Any

from tsdb.connection import Client
from tsdb.faults import translate

__all__ = ["KnownSeries", "generation_key"]

LIMIT = 500_000
"""Series remembered at most (about 120 B each with a 27-character key, measured with
tracemalloc: ~60 MB per API process at most); past it the memory starts again (writes then
ask ``tsapi_ensure`` once more per series)."""


def generation_key(prefix: str) -> str:
    """The key of the generation number kept with the index under ``prefix``."""
    return prefix + "generation"


class KnownSeries:
    """Settled series (see the module's docstring), valid for one generation of the index."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._keys: set[str] = set()
        self._generation: bytes | None = None

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    async def sync(self, client: Client, prefix: str, reply: Any) -> bytes:
        """Take ``reply``, the answer of a ``GET`` of :func:`generation_key` (the writer asks
        it along with its other first questions); where there is none, as after a flush, set
        a random one. Forget every series if it moved; return it, for :meth:`add`."""
        if reply is None:  # a random start: a flushed Redis must not reuse a number
            key = generation_key(prefix)
            with translate():
                await client.set(key, secrets.randbelow(1 << 62), nx=True)  # INCR-able
                reply = await client.get(key)
        generation = reply.encode() if isinstance(reply, str) else bytes(reply or b"")
        if generation != self._generation:
            self._keys.clear()
            self._generation = generation
        return generation

    def add(self, key: str, generation: bytes) -> None:
        """Remember ``key`` as settled, if nothing moved the generation since ``generation``
        was read (an answer read before a change must not outlive it)."""
        if generation != self._generation:
            return
        if len(self._keys) >= self.limit:
            self._keys.clear()
        self._keys.add(key)

    def discard(self, key: str) -> None:
        """Forget ``key`` (its samples found it missing)."""
        self._keys.discard(key)
