"""Prometheus' formatting of values and timestamps, and the ``data`` object of its API.

Sample values are strings: Go's ``strconv.FormatFloat`` with the shortest representation
that round-trips, in ``'f'`` form except, in vectors and matrices, for magnitudes below 1e-6
or from 1e21 on, which use ``'e'`` (as Prometheus 2.42's JSON encoder does; an instant
query's scalar result is always ``'f'``); ``NaN``, ``+Inf`` and ``-Inf`` spelled so.
Timestamps are seconds with at most three decimals.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from promql.eval.result import QueryResult

__all__ = [
    "format_float_f",
    "format_timestamp",
    "format_value",
    "format_values",
    "result_data",
    "result_json",
]


def format_float_f(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'f', -1, 64)`` (used for ``count_values`` labels)."""
    text = repr(value)  # the shortest digits that round-trip, as Go's -1 precision
    if "e" not in text and "n" not in text:  # plain decimal (not inf, nan or exponent form)
        return text[:-2] if text.endswith(".0") else text
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    return text[:-2] if text.endswith(".0") else text


def _format_float_e(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'e', -1, 64)``: shortest digits, 2-digit exponent."""
    digits = Decimal(repr(value)).normalize()
    sign, coeff, exp = digits.as_tuple()
    text = "".join(map(str, coeff))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    power = int(exp) + len(coeff) - 1
    return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"


def format_value(value: float) -> str:
    """A sample value as Prometheus' JSON API writes it."""
    text = repr(value)
    if "e" not in text and "n" not in text:  # 0 or 1e-4 <= |value| < 1e16: 'f' form
        return text[:-2] if text.endswith(".0") else text
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return _format_float_e(value)
    return format_float_f(value)


def format_values(values: npt.NDArray[np.float64]) -> pa.StringArray:
    """:func:`format_value` of every value, in C for the usual ones: orjson writes the same
    shortest digits as ``repr``; where it writes a plain decimal that is Prometheus' text
    (a trailing ``.0`` dropped), and the rest (exponents, NaN and infinities, which orjson
    writes as ``null``) goes through :func:`format_value`."""
    if not len(values):
        return pa.array([], pa.string())
    text = orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY)
    parts = pc.split_pattern(pa.array([text[1:-1].decode()]), ",").flatten()
    odd = pc.match_substring_regex(parts, "[en]")
    parts = pc.replace_substring_regex(parts, r"\.0$", "")
    rest = np.flatnonzero(odd.to_numpy(zero_copy_only=False))
    if len(rest):
        fixed = pa.array([format_value(v) for v in values[rest].tolist()], pa.string())
        parts = pc.replace_with_mask(parts, odd, fixed)
    return parts


def format_timestamp(t_ms: int) -> str:
    """A millisecond timestamp as the JSON number Prometheus writes (``1700000000.123``)."""
    sign = "-" if t_ms < 0 else ""
    whole, frac = divmod(abs(int(t_ms)), 1000)
    return f"{sign}{whole}" + (f".{frac:03d}" if frac else "")


def _ts(t_ms: int) -> float:
    return int(t_ms) / 1000


def result_data(result: QueryResult) -> dict[str, Any]:
    """The ``data`` object of Prometheus' query API for a result, as plain Python data.

    Timestamps are floats in seconds (equal, as JSON numbers, to Prometheus' rendering);
    values are strings formatted by :func:`format_value`.
    """
    kind = result.result_type
    if kind == "scalar":
        t, v = result.scalar
        return {"resultType": kind, "result": [_ts(t), format_float_f(v)]}
    if kind == "string":
        t, s = result.string
        return {"resultType": kind, "result": [_ts(t), s]}
    if kind == "vector":
        return {
            "resultType": kind,
            "result": [
                {"metric": dict(labels), "value": [_ts(t), format_value(v)]}
                for labels, t, v in result.vector
            ],
        }
    return {
        "resultType": kind,
        "result": [
            {
                "metric": dict(labels),
                "values": [
                    [_ts(t), format_value(v)] for t, v in zip(ts.tolist(), vs.tolist(), strict=True)
                ],
            }
            for labels, ts, vs in result.matrix
        ],
    }


def _json_str(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _json_metric(labels: Any) -> str:
    return "{" + ",".join(f"{_json_str(k)}:{_json_str(v)}" for k, v in labels) + "}"


def _json_point(t: int, v: float) -> str:
    return f'[{format_timestamp(t)},"{format_value(v)}"]'


def _matrix_points(result: QueryResult) -> list[str]:
    """Each series' points ``[t,"v"],...`` of a matrix, built column-wise (the steps of a
    range query are shared by all series: each is written once)."""
    counts = np.array([len(ts) for _, ts, _ in result.matrix], dtype=np.int64)
    if not counts.sum():
        return ["" for _ in result.matrix]
    ts = np.concatenate([np.asarray(ts, dtype=np.int64) for _, ts, _ in result.matrix])
    vs = np.concatenate([np.asarray(vs, dtype=np.float64) for _, _, vs in result.matrix])
    steps, at = np.unique(ts, return_inverse=True)
    heads = pa.array([f'[{format_timestamp(t)},"' for t in steps.tolist()], pa.string())
    points = pc.binary_join_element_wise(heads.take(pa.array(at)), format_values(vs), '"]', "")
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), points)
    return [text or "" for text in pc.binary_join(lists, ",").to_pylist()]


def result_json(result: QueryResult) -> str:
    """The ``data`` object as JSON text, byte for byte as Prometheus renders it."""
    kind = result.result_type
    if kind == "scalar":
        t, v = result.scalar
        body = f'[{format_timestamp(t)},"{format_float_f(v)}"]'
    elif kind == "string":
        t, s = result.string
        body = f"[{format_timestamp(t)},{_json_str(s)}]"
    elif kind == "vector":
        body = (
            "["
            + ",".join(
                f'{{"metric":{_json_metric(labels)},"value":{_json_point(t, v)}}}'
                for labels, t, v in result.vector
            )
            + "]"
        )
    else:
        points = _matrix_points(result)
        items = [
            f'{{"metric":{_json_metric(labels)},"values":[{text}]}}'
            for (labels, _, _), text in zip(result.matrix, points, strict=True)
        ]
        body = "[" + ",".join(items) + "]"
    return f'{{"resultType":"{kind}","result":{body}}}'
