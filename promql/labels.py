"""Operations on label sets (:data:`promql.model.Labels`), as Prometheus' ``labels`` does."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from promql.model import Labels

__all__ = [
    "METRIC_NAME",
    "drop_name",
    "get",
    "keep",
    "labels_string",
    "remove",
    "set_label",
    "signature",
    "valid_label_name",
]

METRIC_NAME = "__name__"


def get(labels: Labels, name: str) -> str:
    """The value of a label, ``""`` when missing."""
    for k, v in labels:
        if k == name:
            return v
    return ""


def drop_name(labels: Labels) -> Labels:
    """The label set without ``__name__``."""
    if labels and labels[0][0] == METRIC_NAME:
        return labels[1:]
    return tuple(p for p in labels if p[0] != METRIC_NAME)


def keep(labels: Labels, names: Collection[str]) -> Labels:
    """Only the named labels."""
    return tuple(p for p in labels if p[0] in names)


def remove(labels: Labels, names: Collection[str]) -> Labels:
    """All but the named labels."""
    return tuple(p for p in labels if p[0] not in names)


def set_label(labels: Labels, name: str, value: str) -> Labels:
    """The label set with ``name`` set to ``value`` (removed when ``value`` is empty)."""
    rest = [p for p in labels if p[0] != name]
    if value != "":
        rest.append((name, value))
        rest.sort()
    return tuple(rest)


def signature(labels: Labels, on: bool, names: Collection[str]) -> Labels:
    """The matching key of vector matching: only ``names`` with ``on``, else every label
    but ``names`` and ``__name__`` (``ignoring`` and the default)."""
    if on:
        return keep(labels, names)
    return tuple(p for p in labels if p[0] != METRIC_NAME and p[0] not in names)


def _go_quote(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def labels_string(labels: Iterable[tuple[str, str]]) -> str:
    """Prometheus' ``Labels.String()``: ``{a="1", b="2"}``."""
    return "{" + ", ".join(f"{k}={_go_quote(v)}" for k, v in labels) + "}"


def valid_label_name(name: str) -> bool:
    """Whether ``name`` is a valid Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``)."""
    if not name or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        return False
    return all(c.isascii() and (c.isalnum() or c == "_") for c in name)
