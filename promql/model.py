"""The engine's data model: label sets, matchers, raw series and the ``Source`` protocol.

The API implements :class:`Source` over RedisTimeSeries; :class:`promql.memory.MemorySource`
implements it in memory for tests. The engine calls :meth:`Source.select` once per selector
of a query, with the exact time span that selector needs (lookback, ranges, offsets, ``@``
and subqueries already taken into account).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np

__all__ = [
    "STALE_NAN",
    "STALE_NAN_BITS",
    "Labels",
    "MatchOp",
    "Matcher",
    "Series",
    "Source",
    "compile_regex",
    "is_stale",
    "labels_of",
]

STALE_NAN_BITS = 0x7FF0000000000002
"""Prometheus' staleness marker: a NaN with this exact bit pattern ends a series."""

STALE_NAN: float = float(np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0])
"""The staleness marker as a Python float (its payload bits survive NumPy round trips)."""

Labels = tuple[tuple[str, str], ...]
"""A label set: ``(name, value)`` pairs sorted by name, no empty values. Hashable, and
ordered exactly like Prometheus' ``labels.Compare`` when compared as tuples."""

MatchOp = Literal["=", "!=", "=~", "!~"]


def labels_of(mapping: Mapping[str, str]) -> Labels:
    """The sorted label tuple of a mapping; empty values are dropped (as Prometheus does)."""
    return tuple(sorted((k, v) for k, v in mapping.items() if v != ""))


def is_stale(values: np.ndarray) -> np.ndarray:
    """A boolean mask of the staleness markers in a float64 array (exact bit compare)."""
    return np.asarray(values, dtype=np.float64).view(np.uint64) == STALE_NAN_BITS


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX_RE = re.compile(r"\[:(\^?)([a-z]+):\]")
_NOT_RE2 = re.compile(r"\(\?(?:[=!#>(]|<[=!])|\\[1-9]")  # lookaround, atomic, backrefs...


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern (Prometheus' dialect) for use with ``fullmatch``.

    Prometheus anchors every regex (``^(?:pattern)$``); callers use ``fullmatch``, which is
    the same. RE2's ``\\z`` and POSIX classes like ``[[:digit:]]`` are translated; classes
    are ASCII as in RE2. Raises ``re.error`` for a pattern Python cannot compile.
    """

    def posix(match: re.Match[str]) -> str:
        if match.group(1) or match.group(2) not in _POSIX_CLASSES:
            raise re.error(f"unsupported POSIX class {match.group(0)}")
        return _POSIX_CLASSES[match.group(2)]

    if _NOT_RE2.search(pattern):
        raise re.error(f"{pattern!r} uses syntax RE2 does not have")
    translated = _POSIX_RE.sub(posix, pattern.replace("\\z", "\\Z"))
    return re.compile(translated, re.ASCII)


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector. A missing label matches as the empty string."""

    name: str
    op: MatchOp
    value: str

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` when the series lacks the label) matches."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = compile_regex(self.value).fullmatch(value) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


@dataclass
class Series:
    """A raw series: its labels (including ``__name__``) and samples in time order.

    ``t`` holds int64 milliseconds, strictly ascending; ``v`` float64 values, where a
    :data:`STALE_NAN` marks the series stale from that sample on.
    """

    labels: dict[str, str]
    t: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    v: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))


class Source(Protocol):
    """Where the engine reads raw samples from (implemented over Redis by the API).

    Notes for an implementation over RedisTimeSeries (1.12): ``TS.ADD`` refuses NaN and
    ±Inf ("TSDB: invalid value"), and values travel as decimal text (RESP2 strings, RESP3
    doubles), so no NaN payload survives a round trip; finite doubles do, exactly. Staleness
    markers therefore need a side channel (for example a companion series of codes merged
    back into ``v`` as :data:`STALE_NAN` here). RedisTimeSeries' ``FILTER`` has no regexes:
    resolve ``=~``/``!~`` against the label index with :meth:`Matcher.matches`, and
    remember that a missing label matches as ``""``.
    """

    async def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Every series all ``matchers`` match, with its samples in ``[start_ms, end_ms]``.

        Series without samples in the span may be left out. Matchers on ``__name__``
        match the metric name like any other label; regexes are fully anchored RE2.
        """
        ...
