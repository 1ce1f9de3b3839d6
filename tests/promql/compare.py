"""Comparison of Prometheus' answers with the engine's: same series, label sets and
timestamps, values equal within 1e-9 relative (NaN equals NaN, ±Inf exactly), and where
the floats are equal, the same text."""

from __future__ import annotations

import math
from typing import Any

REL = 1e-9
ABS = 1e-12  # below this, values are equal whatever their relative difference


def _close(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= max(REL * max(abs(x), abs(y)), ABS)


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def _points(points: list[list[Any]], where: str) -> list[str]:
    return [f"{where}@{p[0]}" for p in points]


def diff(
    expected: dict[str, Any],
    actual: dict[str, Any],
    ordered: bool = False,
    series_order: bool = False,
) -> list[str]:
    """Differences between Prometheus' ``data`` (expected) and the engine's (actual).

    ``ordered``: an instant vector's values must come in the same order (sort);
    ``series_order``: the series must come in the same order (range queries)."""
    problems: list[str] = []
    if expected["resultType"] != actual["resultType"]:
        return [f"resultType {expected['resultType']} != {actual['resultType']}"]
    kind = expected["resultType"]
    if kind in ("scalar", "string"):
        (te, ve), (ta, va) = expected["result"], actual["result"]
        if float(te) != float(ta):
            problems.append(f"time {te} != {ta}")
        if kind == "string" and ve != va:
            problems.append(f"string {ve!r} != {va!r}")
        if kind == "scalar":
            if not _close(ve, va):
                problems.append(f"value {ve} != {va}")
            elif float(ve) == float(va) and ve != va:
                problems.append(f"format {ve!r} != {va!r}")
        return problems
    field = "value" if kind == "vector" else "values"
    exp = {_key(s["metric"]): s[field] for s in expected["result"]}
    act = {_key(s["metric"]): s[field] for s in actual["result"]}
    if len(exp) != len(expected["result"]) or len(act) != len(actual["result"]):
        problems.append("duplicate label sets in a result")
    for missing in exp.keys() - act.keys():
        problems.append(f"missing series {dict(missing)}")
    for extra in act.keys() - exp.keys():
        problems.append(f"extra series {dict(extra)}")
    for key in exp.keys() & act.keys():
        pe = [exp[key]] if kind == "vector" else exp[key]
        pa = [act[key]] if kind == "vector" else act[key]
        te = [float(p[0]) for p in pe]
        ta = [float(p[0]) for p in pa]
        if te != ta:
            only_e = sorted(set(te) - set(ta))[:5]
            only_a = sorted(set(ta) - set(te))[:5]
            problems.append(
                f"{dict(key)}: timestamps differ, only prometheus {only_e}, only engine {only_a}"
            )
            continue
        for (t, ve), (_, va) in zip(pe, pa, strict=True):
            if not _close(ve, va):
                problems.append(f"{dict(key)}@{t}: {ve} != {va}")
                break
            if float(ve) == float(va) and ve != va:
                problems.append(f"{dict(key)}@{t}: format {ve!r} != {va!r}")
                break
    if series_order and not problems:
        order_e = [_key(s["metric"]) for s in expected["result"]]
        order_a = [_key(s["metric"]) for s in actual["result"]]
        if order_e != order_a:
            problems.append("series in another order")
    if ordered and kind == "vector" and not problems:
        ve = [float(s["value"][1]) for s in expected["result"]]
        va = [float(s["value"][1]) for s in actual["result"]]
        same = all(_close(str(a), str(b)) for a, b in zip(ve, va, strict=True))
        if not same:
            problems.append(f"order differs: {ve} != {va}")
    return problems
