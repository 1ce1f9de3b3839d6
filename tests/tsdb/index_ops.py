"""Random changes to series through every path tsapi offers, with a model of what the series
index must then say; shared by the standalone and the cluster property tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from tsdb.bulk import Batch, BulkWriter
from tsdb.errors import SeriesExists, SeriesNotFound
from tsdb.index_build import check_index
from tsdb.models import SeriesConfig
from tsdb.rejections import Rejections
from tsdb.store import TimeSeriesStore

# keys spread over slots (and, on a cluster, shards); two share a hash tag
KEYS = ["a", "b:1", "c.x", "d-9", "{t}:1", "{t}:2", "z"]
labelsets = st.dictionaries(
    st.sampled_from(["host", "dc", "kind"]), st.sampled_from(["x", "y", "z"]), max_size=3
)
keys = st.sampled_from(KEYS)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), keys, labelsets),
        st.tuples(st.just("alter"), keys, labelsets),
        st.tuples(st.just("delete"), keys, st.just({})),
        st.tuples(st.just("write"), st.lists(st.tuples(keys, labelsets), min_size=1, max_size=4)),
    ),
    min_size=1,
    max_size=12,
)


@dataclass
class Model:
    """What Redis should hold: labels by series key."""

    series: dict[str, dict[str, str]]

    def names(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for labels in self.series.values():
            for name in labels:
                counts[name] = counts.get(name, 0) + 1
        return counts

    def values(self, name: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for labels in self.series.values():
            if name in labels:
                counts[labels[name]] = counts.get(labels[name], 0) + 1
        return counts


async def apply(store: TimeSeriesStore, model: Model, operation: tuple) -> None:
    """Run one operation through the store and update the model the same way."""
    kind = operation[0]
    if kind == "create":
        _, key, labels = operation
        try:
            await store.create(key, SeriesConfig(labels=labels))
            model.series[key] = labels
        except SeriesExists:
            assert key in model.series
    elif kind == "alter":
        _, key, labels = operation
        try:
            await store.alter(key, SeriesConfig(labels=labels))
            model.series[key] = labels
        except SeriesNotFound:
            assert key not in model.series
    elif kind == "delete":
        try:
            await store.delete(operation[1])
            del model.series[operation[1]]
        except SeriesNotFound:
            assert operation[1] not in model.series
    else:
        wanted = dict(operation[1])  # the last labels given for a key win, as in a body
        batch = Batch(
            list(wanted),
            np.arange(len(wanted), dtype=np.int64),
            np.full(len(wanted), 1000, dtype=np.int64),
            np.ones(len(wanted)),
            np.arange(len(wanted), dtype=np.int64),
            labels=wanted,
        )
        async with BulkWriter(store.client, Rejections("index"), create=True) as writer:
            await writer.write(batch)
            await writer.finish()
        for key, labels in wanted.items():
            model.series.setdefault(key, labels)


async def assert_index_matches(store: TimeSeriesStore, model: Model) -> None:
    """The index says what the model says, and a full check finds it exact."""
    assert await store.index.keys() == sorted(model.series)
    assert await store.index.names() == model.names()
    for name in ("host", "dc", "kind"):
        assert await store.index.values(name) == model.values(name)
    page, _ = await store.page("b", 2)
    assert page == [k for k in sorted(model.series) if k > "b"][:2]
    report = await check_index(store.client)
    assert report.exact, report
