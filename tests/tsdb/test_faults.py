"""One fault policy: every public method of the store and the bulk writer, meeting a Redis
that refuses connections or one that never answers, raises a domain error (never a raw
redis-py exception), within the socket timeouts."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from tests.conftest import free_port
from tsdb.bulk import Batch, BulkWriter
from tsdb.connection import connect
from tsdb.errors import StoreTimeout, StoreUnavailable
from tsdb.index import SeriesIndex
from tsdb.index_build import check_index, ensure_index, rebuild_index
from tsdb.models import Aggregation, MultiRangeQuery, RangeQuery, Rule, SeriesConfig
from tsdb.rejections import Rejections
from tsdb.store import TimeSeriesStore

WITHOUT_IO = {"bulk_writer", "check_same_slot", "refresh_cluster"}  # no Redis call (standalone)

STORE_CALLS: dict[str, Callable[[TimeSeriesStore], Awaitable[Any]]] = {
    "create": lambda s: s.create("k", SeriesConfig(labels={"a": "b"})),
    "alter": lambda s: s.alter("k", SeriesConfig(retention_ms=10)),
    "info": lambda s: s.info("k"),
    "exists": lambda s: s.exists("k"),
    "delete": lambda s: s.delete("k"),
    "keys": lambda s: s.keys(),
    "page": lambda s: s.page(None, 10),
    "labels_of": lambda s: s.labels_of(["k"]),
    "labels_matching": lambda s: s.labels_matching(["a=b"]),
    "add_many": lambda s: s.add_many([("k", 1, 1.0)], create=True),
    "write_series": lambda s: s.write_series("k", np.array([1]), np.array([1.0])),
    "upsert": lambda s: s.upsert("k", 1, 1.0),
    "delete_range": lambda s: s.delete_range("k", 0, 10),
    "range": lambda s: s.range("k", RangeQuery(aggregation=Aggregation.AVG, bucket_ms=10)),
    "mrange": lambda s: s.mrange(MultiRangeQuery(filters=("a=b",))),
    "latest": lambda s: s.latest(["a=b"]),
    "bounds_matching": lambda s: s.bounds_matching(["a=b"]),
    "sample_counts": lambda s: s.sample_counts(["a=b"], None, None),
    "create_rule": lambda s: s.create_rule("k", Rule("k2", Aggregation.AVG, 60_000)),
    "delete_rule": lambda s: s.delete_rule("k", "k2"),
    "rules": lambda s: s.rules("k"),
    "prepare": lambda s: s.prepare(),
}


def _batch() -> Batch:
    one = np.array([0], dtype=np.int64)
    return Batch(["k"], one, np.array([1], dtype=np.int64), np.array([1.0]), one)


async def _write_and_finish(writer: BulkWriter) -> None:
    await writer.write(_batch())
    await writer.finish()


INDEX_CALLS: dict[str, Callable[[SeriesIndex], Awaitable[Any]]] = {
    "state": lambda i: i.state(),
    "page": lambda i: i.page(None, 10),
    "keys": lambda i: i.keys(),
    "count": lambda i: i.count(),
    "names": lambda i: i.names(),
    "values": lambda i: i.values("a"),
    "value_list": lambda i: i.value_list("a"),
    "check_index": lambda i: check_index(i.client),
    "rebuild_index": lambda i: rebuild_index(i.client),
    "ensure_index": lambda i: ensure_index(i.client),
}
"""The index reader's methods, and the maintenance functions of tsdb/index_build.py."""

WRITER_CALLS: dict[str, Callable[[BulkWriter], Awaitable[Any]]] = {
    "write": _write_and_finish,  # with nothing pending, write only sends: finish reads
    "finish": _write_and_finish,
    "preflight": lambda w: w.preflight(_batch()),
}


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers (a frozen Redis)."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    server.close()


def test_every_public_method_is_listed() -> None:
    listed_index = {n for n in INDEX_CALLS if not n.endswith("_index")}
    pairs = (
        (TimeSeriesStore, STORE_CALLS),
        (BulkWriter, WRITER_CALLS),
        (SeriesIndex, listed_index),
    )
    for cls, listed in pairs:
        public = {n for n, f in vars(cls).items() if inspect.isfunction(f) and n[0] != "_"}
        assert public - WITHOUT_IO == set(listed), f"list {cls.__name__}'s new methods here"


async def _outcome(call: Awaitable[Any]) -> BaseException | None:
    try:
        await asyncio.wait_for(call, 10)
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("fault", ["refused", "frozen"])
async def test_store_and_writer_raise_domain_errors(fault: str, silent_redis: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0" if fault == "refused" else silent_redis
    expected = StoreUnavailable if fault == "refused" else StoreTimeout
    client = connect(url, socket_timeout=0.2, connect_timeout=0.2)
    store = TimeSeriesStore(client)
    writers = {name: BulkWriter(client, Rejections("index"), create=True) for name in WRITER_CALLS}
    calls = {f"store.{n}": call(store) for n, call in STORE_CALLS.items()}
    calls |= {f"writer.{n}": call(writers[n]) for n, call in WRITER_CALLS.items()}
    calls |= {f"index.{n}": call(store.index) for n, call in INDEX_CALLS.items()}
    try:  # all at once, each on its own connection: the test takes as long as the slowest
        outcomes = await asyncio.gather(*(_outcome(c) for c in calls.values()))
    finally:
        for writer in writers.values():
            await writer.__aexit__(None, None, None)
        await client.aclose()
    wrong = {
        name: repr(outcome)
        for name, outcome in zip(calls, outcomes, strict=True)
        if type(outcome) is not expected
    }
    assert not wrong, f"expected {expected.__name__} from every call"
