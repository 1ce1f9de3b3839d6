"""JSON bodies for ``POST /v1/points``, in three shapes, into one :class:`~tsdb.bulk.Batch`.

- rows: ``[{"key": "a", "t": 1000, "v": 1.5}, ...]`` (or one such object);
- by series: ``{"a": [[1000, 1.5], {"t": 2000, "v": 2}], "b": [...]}``;
- columnar, the fast path: ``{"key": "a", "t": [...], "v": [...], "labels": {...}}`` or a list
  of those; ``labels`` (optional) are used when the series is created.

A point's ``index`` is its position in the body, counting points in order across all series
(0-based). The whole body is parsed at once (JSON cannot be cut), bounded by the body limit.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from api.errors import ApiError
from api.ingest.values import (
    MISSING_KEY,
    MISSING_TIMESTAMP,
    MISSING_VALUE,
    Errors,
    FloatArray,
    IntArray,
    timestamps_from_objects,
    values_from_objects,
)
from tsdb.bulk import Batch
from tsdb.errors import InvalidInput
from tsdb.keys import validate_labels
from tsdb.rejections import Rejection, Rejections

__all__ = ["JsonParser"]

_SHAPES = (
    'send a list of {"key", "t", "v"} points, an object {"<key>": [[t, v], ...], ...}, or '
    'columnar {"key": ..., "t": [...], "v": [...]} (or a list of those)'
)
CHUNK_POINTS = 25_000
"""Points converted at a time, so that writing starts while the rest is converted."""
SMALL_GROUP_POINTS = 5_000
"""Points of small series converted together: small enough that Redis works on one group's
series while the next group is converted, and little is left for Redis alone at the end."""
Columnar = tuple[str, list[Any], list[Any], dict[str, str]]
"""One series of a columnar body: key, times, values, labels."""
_ROW_FIELDS = {"key", "t", "v"}
_COLUMNAR_FIELDS = {"key", "t", "v", "labels"}


class JsonParser:
    """Collects the body, parses it whole in :meth:`finish`, then converts it in chunks."""

    pos_name = "index"

    def __init__(self, rejections: Rejections, now: int) -> None:
        self.rejections = rejections
        self.now = now
        self._pieces: list[bytes] = []

    def feed(self, data: bytes) -> list[Batch]:
        self._pieces.append(data)
        return []

    def finish(self) -> Iterator[Batch]:
        """The body's points, a chunk at a time (the shape is checked before the first)."""
        body = b"".join(self._pieces)
        self._pieces.clear()
        try:
            with _paused_gc():
                doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(
                400, "malformed-json", "Malformed JSON", f"the body is not JSON: {exc}"
            ) from None
        return self.parse(doc)

    def parse(self, doc: Any) -> Iterator[Batch]:
        """The points of a decoded JSON document, in batches of at most CHUNK_POINTS."""
        if isinstance(doc, dict):
            if "key" in doc and isinstance(doc.get("t"), list):
                return self._columnar([doc])
            if "key" in doc and ("t" in doc or "v" in doc):
                return self._rows([doc])
            return self._by_series(doc)
        if isinstance(doc, list) and doc:
            first = doc[0]
            if isinstance(first, dict) and isinstance(first.get("t"), list):
                return self._columnar(doc)
            return self._rows(doc)
        if isinstance(doc, list):
            raise InvalidInput("the body holds no points")
        raise InvalidInput(_SHAPES)

    # -- shapes -----------------------------------------------------------------------------------

    def _rows(self, items: list[Any]) -> Iterator[Batch]:
        for start in range(0, len(items), CHUNK_POINTS):
            yield self._row_chunk(items[start : start + CHUNK_POINTS], start)

    def _row_chunk(self, items: list[Any], offset: int) -> Batch:
        n = len(items)
        try:
            keys = [d["key"] for d in items]
            ts = [d["t"] for d in items]
            vs = [d["v"] for d in items]
            clean = sum(map(len, items)) == 3 * n and set(map(type, keys)) == {str}
        except (KeyError, TypeError, IndexError):
            clean = False
        if clean:
            return self._points(keys, ts, vs, np.arange(offset, offset + n, dtype=np.int64))
        keys, ts, vs, kept = [], [], [], []
        for i, d in enumerate(items, offset):
            reason = _row_problem(d)
            if reason:
                self.rejections.add(Rejection(i, reason))
                continue
            keys.append(d["key"])
            ts.append(d["t"])
            vs.append(d["v"])
            kept.append(i)
        return self._points(keys, ts, vs, np.array(kept, dtype=np.int64))

    def _by_series(self, doc: dict[str, Any]) -> Iterator[Batch]:
        for key, pairs in doc.items():
            if not isinstance(pairs, list):
                raise InvalidInput(f"series {key!r}: expected a list of [t, v] pairs; {_SHAPES}")
            if not pairs:
                raise InvalidInput(f"series {key!r} has no points")
        return self._pair_chunks(doc)

    def _pair_chunks(self, doc: dict[str, list[Any]]) -> Iterator[Batch]:
        offset = 0
        for key, pairs in doc.items():
            for start in range(0, len(pairs), CHUNK_POINTS):
                yield self._pair_chunk(key, pairs[start : start + CHUNK_POINTS], offset + start)
            offset += len(pairs)

    def _pair_chunk(self, key: str, pairs: list[Any], offset: int) -> Batch:
        n = len(pairs)
        if set(map(type, pairs)) <= {list} and set(map(len, pairs)) <= {2}:
            ts = [p[0] for p in pairs]
            vs = [p[1] for p in pairs]
            return self._series(key, ts, vs, np.arange(offset, offset + n, dtype=np.int64))
        ts, vs, pos = [], [], []
        for i, pair in enumerate(pairs, offset):
            if isinstance(pair, list) and len(pair) == 2:
                t, v = pair
            elif isinstance(pair, dict) and set(pair) == {"t", "v"}:
                t, v = pair["t"], pair["v"]
            else:
                self.rejections.add(Rejection(i, 'a point is [t, v] or {"t": ..., "v": ...}', key))
                continue
            ts.append(t)
            vs.append(v)
            pos.append(i)
        return self._series(key, ts, vs, np.array(pos, dtype=np.int64))

    def _columnar(self, series: list[Any]) -> Iterator[Batch]:
        items = [_columnar_item(number, item) for number, item in enumerate(series)]
        return self._columnar_chunks(items)

    def _columnar_chunks(self, items: list[Columnar]) -> Iterator[Batch]:
        offset = 0
        group: list[Columnar] = []  # small series, converted together (one Batch per group)
        group_start = group_size = 0
        for item in items:
            key, t, v, labels = item
            if len(t) < CHUNK_POINTS:
                if not group:
                    group_start = offset
                group.append(item)
                group_size += len(t)
                offset += len(t)
                if group_size >= SMALL_GROUP_POINTS:
                    yield self._small_series(group, group_start)
                    group, group_size = [], 0
                continue
            if group:
                yield self._small_series(group, group_start)
                group, group_size = [], 0
            for start in range(0, len(t), CHUNK_POINTS):
                end = start + CHUNK_POINTS
                pos = np.arange(offset + start, offset + min(end, len(t)), dtype=np.int64)
                batch = self._series(key, t[start:end], v[start:end], pos)
                if labels:
                    batch.labels[key] = labels
                yield batch
            offset += len(t)
        if group:
            yield self._small_series(group, group_start)

    def _small_series(self, group: list[Columnar], start: int) -> Batch:
        """The points of many small series in one batch (no numpy arrays per series)."""
        table: dict[str, int] = {}
        item_codes = [table.setdefault(key, len(table)) for key, _, _, _ in group]
        codes = np.repeat(np.array(item_codes, dtype=np.int64), [len(t) for _, t, _, _ in group])
        ts = list(chain.from_iterable(t for _, t, _, _ in group))
        vs = list(chain.from_iterable(v for _, _, v, _ in group))
        pos = np.arange(start, start + len(ts), dtype=np.int64)
        keys = list(table)
        times, t_errors = timestamps_from_objects(ts, self.now)
        values, v_errors = values_from_objects(vs)
        ok = np.ones(len(ts), dtype=bool)
        self._reject(ok, pos, lambda i: keys[int(codes[i])], t_errors, v_errors, times, values)
        labels = {key: labels for key, _, _, labels in group if labels}
        if ok.all():
            return Batch(keys, codes, times, values, pos, labels)
        return Batch(keys, codes[ok], times[ok], values[ok], pos[ok], labels)

    def _series(self, key: str, t: list[Any], v: list[Any], pos: IntArray) -> Batch:
        """Points of one series."""
        times, t_errors = timestamps_from_objects(t, self.now)
        values, v_errors = values_from_objects(v)
        ok = np.ones(len(t), dtype=bool)
        self._reject(ok, pos, [key].__getitem__, t_errors, v_errors, times, values, 0)
        n = int(ok.sum())
        if n == len(t):
            return Batch([key], np.zeros(n, dtype=np.int64), times, values, pos)
        return Batch([key], np.zeros(n, dtype=np.int64), times[ok], values[ok], pos[ok])

    # -- shared -----------------------------------------------------------------------------------

    def _points(self, keys: list[Any], ts: list[Any], vs: list[Any], pos: IntArray) -> Batch:
        """Factorize keys, convert t and v, reject what is invalid."""
        ok = np.ones(len(keys), dtype=bool)
        table: dict[str, int] = {}
        if keys and keys.count(keys[0]) == len(keys) and isinstance(keys[0], str):
            table[keys[0]] = 0
            codes = np.zeros(len(keys), dtype=np.int64)
        elif set(map(type, keys)) <= {str}:
            codes = np.array([table.setdefault(k, len(table)) for k in keys], dtype=np.int64)
        else:
            codes = np.zeros(len(keys), dtype=np.int64)
            for i, k in enumerate(keys):
                if isinstance(k, str):
                    codes[i] = table.setdefault(k, len(table))
                else:
                    ok[i] = False
                    reason = MISSING_KEY if k is None else "key must be a string"
                    self.rejections.add(Rejection(int(pos[i]), reason))
        times, t_errors = timestamps_from_objects(ts, self.now)
        values, v_errors = values_from_objects(vs)
        self._reject(ok, pos, keys.__getitem__, t_errors, v_errors, times, values)
        return Batch(list(table), codes[ok], times[ok], values[ok], pos[ok])

    def _reject(
        self,
        ok: npt.NDArray[np.bool_],
        pos: IntArray,
        key_of: Callable[[int], Any],
        t_errors: Errors,
        v_errors: Errors,
        times: IntArray,
        values: FloatArray,
        single: int | None = None,
    ) -> None:
        """Clear ``ok`` for bad points and record them (a timestamp's problem first).

        ``key_of(i)`` names the series of point ``i`` (``key_of(single)`` for all, if given).
        """
        if not t_errors and not v_errors:
            return
        t_bad, v_bad = dict(t_errors), dict(v_errors)
        for i in sorted(t_bad.keys() | v_bad.keys()):
            if not ok[i]:
                continue
            ok[i] = False
            self.rejections.add(
                Rejection(
                    int(pos[i]),
                    t_bad.get(i) or v_bad[i],
                    key_of(i if single is None else single),
                    None if i in t_bad else int(times[i]),
                    None if i in v_bad else float(values[i]),
                )
            )


@contextmanager
def _paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a body's many small lists are made (it is 4x faster)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _row_problem(d: Any) -> str | None:
    if not isinstance(d, dict):
        return 'a point is {"key": ..., "t": ..., "v": ...}'
    extra = set(d) - _ROW_FIELDS
    if extra:
        return f"unknown field(s): {', '.join(sorted(map(str, extra)))}"
    if "key" not in d:
        return MISSING_KEY
    if "t" not in d:
        return MISSING_TIMESTAMP
    if "v" not in d:
        return MISSING_VALUE
    return None


def _columnar_item(number: int, item: Any) -> Columnar:
    where = f"series {number}"
    if not isinstance(item, dict):
        raise InvalidInput(f'{where}: expected {{"key", "t": [...], "v": [...]}}')
    extra = set(item) - _COLUMNAR_FIELDS
    if extra:
        raise InvalidInput(f"{where}: unknown field(s): {', '.join(sorted(map(str, extra)))}")
    key, t, v = item.get("key"), item.get("t"), item.get("v")
    if not isinstance(key, str):
        raise InvalidInput(f"{where}: key must be a string")
    if not isinstance(t, list) or not isinstance(v, list):
        raise InvalidInput(f"series {key!r}: t and v must be lists of the same length")
    if len(t) != len(v):
        raise InvalidInput(
            f"series {key!r}: t has {len(t)} entries but v has {len(v)}; they must match"
        )
    labels = item.get("labels")
    labels = {} if labels is None else labels
    if not isinstance(labels, dict) or not all(isinstance(x, str) for x in labels.values()):
        raise InvalidInput(f"series {key!r}: labels must be an object of name: value (strings)")
    return key, t, v, validate_labels(labels)
