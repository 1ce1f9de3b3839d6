"""Functions over instant vectors and scalars (``abs``, ``round``, ``label_replace``...)."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from promql.errors import ExecutionError
from promql.eval.values import Scal, Vec, merge_duplicates
from promql.labels import drop_name, get, set_label, valid_label_name
from promql.model import Labels, compile_regex

__all__ = [
    "MATH_FUNCTIONS",
    "absent",
    "clamp",
    "expand_go_template",
    "label_join",
    "label_replace",
    "map_values",
    "round_to",
    "scalar",
    "sort_vector",
]


def _ignore(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    def run(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return fn(x)

    return run


MATH_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": _ignore(np.exp),
    "sqrt": _ignore(np.sqrt),
    "ln": _ignore(np.log),
    "log2": _ignore(np.log2),
    "log10": _ignore(np.log10),
}


def map_values(vec: Vec, values: np.ndarray, present: np.ndarray | None = None) -> Vec:
    """The vector with new values, the metric name dropped (duplicates checked per step)."""
    out = Vec(
        [drop_name(labels) for labels in vec.labels],
        values,
        vec.present if present is None else present,
    )
    return merge_duplicates(out.compact())


def round_to(vec: Vec, to_nearest: np.ndarray) -> Vec:
    """``round(v, to_nearest)``: ties up, via the inverse as Prometheus does."""
    with np.errstate(all="ignore"):
        inverse = 1.0 / to_nearest
        values = np.floor(vec.values * inverse[None, :] + 0.5) / inverse[None, :]
    return map_values(vec, values)


def clamp(vec: Vec, low: np.ndarray | None, high: np.ndarray | None) -> Vec:
    """``clamp``/``clamp_min``/``clamp_max``; ``clamp`` with max < min gives nothing."""
    values = vec.values
    present = vec.present
    if low is not None and high is not None:
        values = np.maximum(low[None, :], np.minimum(high[None, :], values))
        present = present & ~(high < low)[None, :]
    elif low is not None:
        values = np.maximum(values, low[None, :])
    elif high is not None:
        values = np.minimum(values, high[None, :])
    return map_values(vec, values, present)


def scalar(vec: Vec) -> Scal:
    """``scalar(v)``: the single element's value, NaN unless exactly one."""
    if not vec.labels:
        return Scal(np.full(vec.steps, np.nan))
    count = vec.present.sum(axis=0)
    first = np.argmax(vec.present, axis=0)
    values = vec.values[first, np.arange(vec.steps)]
    return Scal(np.where(count == 1, values, np.nan))


def absent(vec: Vec, labels: Labels) -> Vec:
    """``absent(v)``: 1 with ``labels`` at the steps where ``v`` has no element."""
    n = vec.steps
    missing = ~vec.present.any(axis=0) if vec.labels else np.ones(n, dtype=bool)
    return Vec.from_rows([labels], [np.ones(n)], [missing], n)


def sort_vector(vec: Vec, descending: bool) -> Vec:
    """``sort``/``sort_desc`` of an instant query's vector (NaN last); a no-op over ranges."""
    if vec.steps != 1 or len(vec.labels) < 2:
        return vec
    values = vec.values[:, 0]
    nan = np.isnan(values)
    key = -values if descending else values
    order = np.lexsort((np.where(nan, 0.0, key), nan))
    return vec.select(order)


_TEMPLATE = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


def expand_go_template(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``$$``; unknown → empty."""

    def group(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) if m.group(1) is not None else m.group(2)
        if name == "":
            return m.group(0)
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except IndexError:
            return ""
        return value or ""

    return _TEMPLATE.sub(group, template)


def label_replace(vec: Vec, dst: str, replacement: str, src: str, pattern: str) -> Vec:
    """``label_replace``: where ``src`` fully matches ``pattern``, set ``dst`` to the
    expanded replacement (an empty result removes ``dst``). Keeps the metric name."""
    try:
        regex = compile_regex(pattern)
    except re.error:
        raise ExecutionError(f"invalid regular expression in label_replace(): {pattern}") from None
    if not valid_label_name(dst):
        raise ExecutionError(f"invalid destination label name in label_replace(): {dst}")
    out = []
    for labels in vec.labels:
        match = regex.fullmatch(get(labels, src))
        if match is None:
            out.append(labels)
        else:
            out.append(set_label(labels, dst, expand_go_template(replacement, match)))
    return merge_duplicates(Vec(out, vec.values, vec.present))


def label_join(vec: Vec, dst: str, separator: str, sources: list[str]) -> Vec:
    """``label_join``: ``dst`` set to the source labels' values joined by ``separator``."""
    if not valid_label_name(dst):
        raise ExecutionError(f"invalid destination label name in label_join(): {dst}")
    for src in sources:
        if not valid_label_name(src):
            raise ExecutionError(f"invalid source label name in label_join(): {src}")
    out = [
        set_label(labels, dst, separator.join(get(labels, s) for s in sources))
        for labels in vec.labels
    ]
    return merge_duplicates(Vec(out, vec.values, vec.present))
