"""Columns of raw timestamps and values turned into checked numpy arrays, vectorized.

Each converter returns the array and a list of ``(row, reason)`` for the entries that are not
valid (their slots in the array are 0). The common case (all epoch-ms integers, all finite
numbers) is one numpy or pyarrow cast; only the odd entries are looked at one by one, with
the same rules and messages as :func:`tsdb.timefmt.parse_timestamp` and the single-series
endpoint.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from core.fields import MAX_TIME, check_time_in
from tsdb.errors import InvalidInput
from tsdb.timefmt import parse_timestamp

__all__ = [
    "MISSING_KEY",
    "MISSING_TIMESTAMP",
    "MISSING_VALUE",
    "NOT_A_NUMBER",
    "NOT_FINITE",
    "Errors",
    "FloatArray",
    "IntArray",
    "timestamps_from_objects",
    "timestamps_from_strings",
    "values_from_objects",
    "values_from_strings",
]

MISSING_KEY = "missing key"
MISSING_TIMESTAMP = "missing timestamp"
MISSING_VALUE = "missing value"
NOT_A_NUMBER = "value must be a number"
NOT_FINITE = "value must be finite (no NaN or Infinity)"

Errors = list[tuple[int, str]]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
_NUMBER = re.compile(
    r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*|\s*[+-]?(?:nan|inf|infinity)\s*", re.I
)
_MAX_FLOAT_TS = float(MAX_TIME)


def _ts_reason(raw: Any, now: int) -> str | None:
    """Why ``raw`` is not a timestamp (the message of parse_timestamp), or None if it is."""
    if raw is None or raw == "":
        return MISSING_TIMESTAMP
    try:
        parse_timestamp(raw, "t", now)
    except InvalidInput as exc:
        return str(exc)
    return None


def _ts_slow(
    items: Any,
    rows: npt.NDArray[np.int64],
    out: npt.NDArray[np.int64],
    now: int,
    errors: Errors,
    *,
    json: bool = False,
) -> None:
    """Timestamps one by one; JSON values follow the API's grammar exactly (``TimeIn``)."""
    for row in rows.tolist():
        raw = items[row]
        if raw is None or raw == "":
            errors.append((row, MISSING_TIMESTAMP))
            continue
        try:
            if json:
                raw = check_time_in(raw)
            out[row] = parse_timestamp(raw.strip() if isinstance(raw, str) else raw, "t", now)
        except InvalidInput as exc:
            errors.append((row, str(exc)))


def timestamps_from_objects(items: Sequence[Any], now: int) -> tuple[npt.NDArray[np.int64], Errors]:
    """Timestamps from JSON values: epoch-ms numbers, ISO-8601 or relative strings."""
    n = len(items)
    errors: Errors = []
    types = set(map(type, items))
    if types <= {int}:
        try:
            out = np.array(items, dtype=np.int64)
        except OverflowError:
            out = np.zeros(n, dtype=np.int64)
            _ts_slow(items, np.arange(n), out, now, errors, json=True)
            return out, errors
        bad = np.flatnonzero((out < 0) | (out > MAX_TIME))
    elif types <= {float}:
        floats = np.array(items, dtype=np.float64)
        good = (floats >= 0) & (floats < _MAX_FLOAT_TS) & (floats == np.floor(floats))
        out = np.where(good, floats, 0).astype(np.int64)
        bad = np.flatnonzero(~good)
    else:
        out = np.zeros(n, dtype=np.int64)
        bad = np.arange(n)
    if len(bad):
        _ts_slow(items, bad, out, now, errors, json=True)
    return out, errors


def values_from_objects(items: Sequence[Any]) -> tuple[npt.NDArray[np.float64], Errors]:
    """Values from JSON: finite numbers (booleans, strings and null are refused)."""
    n = len(items)
    errors: Errors = []
    if set(map(type, items)) <= {int, float}:
        try:
            out = np.array(items, dtype=np.float64)
        except OverflowError:
            out = np.full(n, np.nan)
        bad = np.flatnonzero(~np.isfinite(out))
        if not len(bad):
            return out, errors
    else:
        out = np.full(n, np.nan)
        bad = np.arange(n)
    for row in bad.tolist():
        raw = items[row]
        if raw is None:
            errors.append((row, MISSING_VALUE))
        elif isinstance(raw, bool) or not isinstance(raw, int | float):
            errors.append((row, NOT_A_NUMBER))
        else:
            try:
                value = float(raw)
            except OverflowError:
                value = math.inf
            if math.isfinite(value):
                out[row] = value
            else:
                errors.append((row, NOT_FINITE))
    out[[r for r, _ in errors]] = 0.0
    return out, errors


def timestamps_from_strings(column: pa.Array, now: int) -> tuple[npt.NDArray[np.int64], Errors]:
    """Timestamps from text (CSV): epoch ms, ISO-8601 or relative forms."""
    n = len(column)
    errors: Errors = []
    try:
        out = np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False))
        bad = np.flatnonzero(out < 0)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        is_int = np.asarray(
            pc.match_substring_regex(column, r"^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
        )
        out = np.zeros(n, dtype=np.int64)
        if is_int.any():
            ints = pc.cast(pc.filter(column, pa.array(is_int)), pa.int64())
            out[is_int] = ints.to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(~is_int)
        if len(bad):
            iso = _iso_cast(pc.take(column, pa.array(bad)))
            if iso is not None:
                out[bad] = iso
                bad = bad[iso < 0]
    if len(bad):
        texts = pc.take(column, pa.array(bad)).to_pylist()
        lookup = dict(zip(bad.tolist(), texts, strict=True))
        _ts_slow(_Sparse(lookup), bad, out, now, errors)
    return out, errors


def _iso_cast(column: pa.Array) -> npt.NDArray[np.int64] | None:
    """ISO-8601 strings to epoch ms with Arrow's parser (with zone, then naive = UTC)."""
    for unit in (pa.timestamp("ms", tz="UTC"), pa.timestamp("ms")):
        try:
            cast = pc.cast(column, unit)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return np.asarray(cast.cast(pa.int64()).to_numpy(zero_copy_only=False))
    return None


def values_from_strings(column: pa.Array) -> tuple[npt.NDArray[np.float64], Errors]:
    """Values from text (CSV): finite decimal numbers."""
    errors: Errors = []
    try:
        out = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
        bad = np.flatnonzero(~np.isfinite(out))
        if not len(bad):
            return out, errors
        out = out.copy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = np.zeros(len(column), dtype=np.float64)
        bad = np.arange(len(column))
    texts = pc.take(column, pa.array(bad)).to_pylist()
    for row, text in zip(bad.tolist(), texts, strict=True):
        if text is None or not text.strip():
            errors.append((row, MISSING_VALUE))
        elif not _NUMBER.fullmatch(text):
            errors.append((row, NOT_A_NUMBER))
        elif not math.isfinite(value := float(text)):
            errors.append((row, NOT_FINITE))
        else:
            out[row] = value
    out[[r for r, _ in errors]] = 0.0
    return out, errors


class _Sparse:
    """A read-only ``row -> item`` view for the slow path over a few rows."""

    def __init__(self, items: dict[int, Any]) -> None:
        self._items = items

    def __getitem__(self, row: int) -> Any:
        return self._items[row]

    def __len__(self) -> int:
        return len(self._items)
