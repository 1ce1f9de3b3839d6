"""The PromQL engine's :class:`~promql.model.Source` over RedisTimeSeries, and the series
mapping of the Prometheus-compatible API.

Every tsapi series is visible with its labels plus ``__name__``: the value of its own
``__name__`` label when it has one (series written by Prometheus' remote write do), else
its key. So a key that is not a valid metric name stays reachable as
``{__name__="temp.x-1"}``.

A selector becomes RedisTimeSeries filters (:func:`tsdb.matchers.filters_for`: regexes are
resolved against the series index's label values; a missing label matches as ``""``) and
one ``TS.MRANGE`` over the series that have a ``__name__`` label. Matchers on ``__name__``
also reach series without that label through their key: an equality names the key
directly, a regex or negation is tried against the index's keys. A key limited to a label
filter (``reach_filters``) has its filters added to every selector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from api.security.reach import filter_matches
from promql.errors import BadData
from promql.labels import METRIC_NAME
from promql.model import Matcher, Series, compile_regex
from tsdb.errors import InvalidQuery
from tsdb.keys import KEY_PATTERN
from tsdb.matchers import LabelMatcher, MatchOp, filters_for
from tsdb.promread import RawSeries, range_by_keys, range_matching
from tsdb.store import TimeSeriesStore

__all__ = ["RedisSource", "label_matchers", "prom_labels"]

_HAS_NAME = f"{METRIC_NAME}!="  # the series has a __name__ label
_NO_NAME = f"{METRIC_NAME}="  # the series has none


def prom_labels(key: str, labels: dict[str, str]) -> dict[str, str]:
    """A series' labels as PromQL sees them: ``__name__`` is its own label, else its key."""
    if labels.get(METRIC_NAME):
        return labels
    return {**labels, METRIC_NAME: key}


def label_matchers(matchers: Sequence[Matcher]) -> list[LabelMatcher]:
    """The engine's matchers as the data layer's, regexes compiled in RE2's dialect
    (:func:`promql.model.compile_regex`) so that :func:`filters_for` resolves them against
    the index's label values as Prometheus would."""
    out = []
    for m in matchers:
        regex = None
        if m.op in ("=~", "!~"):
            try:
                regex = compile_regex(m.value)
            except re.error as exc:
                raise BadData(f"invalid regular expression {m.value!r}: {exc}") from None
        out.append(LabelMatcher(m.name, MatchOp(m.op), m.value, regex))
    return out


class RedisSource:
    """Reads the samples each selector of a query needs from RedisTimeSeries."""

    def __init__(self, store: TimeSeriesStore, reach_filters: Sequence[str] = ()) -> None:
        self.store = store
        self.reach_filters = tuple(reach_filters)

    async def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Every series all ``matchers`` match, with its samples in ``[start_ms, end_ms]``."""
        if end_ms < 0:
            return []
        found = await self.raw(matchers, start_ms, end_ms)
        return [Series(prom_labels(s.key, s.labels), s.t, s.v) for s in found if len(s.t)]

    async def raw(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[RawSeries]:
        """The matching series as stored (key, labels, samples)."""
        named = [m for m in matchers if m.name == METRIC_NAME]
        others = [m for m in matchers if m.name != METRIC_NAME]
        labelled = await self._labelled(matchers, start_ms, end_ms)
        seen = {s.key for s in labelled}
        unlabelled = await self._by_key(named, others, start_ms, end_ms, seen)
        return labelled + [s for s in unlabelled if s.key not in seen]

    async def _labelled(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int
    ) -> list[RawSeries]:
        """Series with a ``__name__`` label, selected by filters."""
        try:
            filters = await filters_for(self.store, label_matchers(matchers))
        except InvalidQuery as exc:
            if "must not match the empty string" in str(exc):
                raise BadData(
                    "vector selector must contain at least one non-empty matcher"
                ) from None
            raise
        if filters is None:
            return []
        filters = (*filters, _HAS_NAME, *self.reach_filters)
        return await range_matching(self.store.client, filters, start_ms, end_ms)

    async def _by_key(
        self,
        named: Sequence[Matcher],
        others: Sequence[Matcher],
        start_ms: int,
        end_ms: int,
        seen: set[str],
    ) -> list[RawSeries]:
        """Series without a ``__name__`` label whose key the ``__name__`` matchers match."""
        if any(m.op == "=" for m in named):
            keys = sorted({m.value for m in named if m.op == "="})
        elif named and not all(m.matches("") for m in named):
            keys = await self.store.keys()
        elif others and not all(m.matches("") for m in others):
            positive = label_matchers(others)
            filters = await filters_for(self.store, positive)
            if filters is None:
                return []
            found = await range_matching(
                self.store.client, (*filters, _NO_NAME, *self.reach_filters), start_ms, end_ms
            )
            return [s for s in found if all(m.matches(s.key) for m in named)]
        else:
            return []
        keys = [
            k
            for k in keys
            if k not in seen and KEY_PATTERN.fullmatch(k) and all(m.matches(k) for m in named)
        ]
        if not keys:
            return []
        found = await range_by_keys(self.store.client, keys, start_ms, end_ms)
        return [
            s
            for s in found
            if not s.labels.get(METRIC_NAME)
            and all(m.matches(s.labels.get(m.name, "")) for m in others)
            and all(filter_matches(f, s.labels) for f in self.reach_filters)
        ]
