"""Which series a key may touch: keys starting with a prefix, labels matching a filter.

A label filter is applied the way RedisTimeSeries applies it, so that a series a key may
read by name is exactly a series its label queries return:

- ``l=v`` the label is ``v``; ``l=(a,b)`` it is one of them;
- ``l!=v`` it is not ``v`` (or absent); ``l!=(a,b)`` none of them (or absent);
- ``l=`` the label is absent; ``l!=`` it is present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tsdb.keys import LABEL_PATTERN

__all__ = ["Reach", "filter_matches"]

_FILTER = re.compile(rf"(?P<label>{LABEL_PATTERN.pattern})(?P<op>!?=)(?P<value>.*)", re.DOTALL)


def filter_matches(text: str, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy one (already validated) label filter."""
    match = _FILTER.fullmatch(text)
    if match is None:
        return False
    value = labels.get(match["label"])
    wanted = match["value"]
    negated = match["op"] == "!="
    if wanted == "":
        return (value is not None) if negated else (value is None)
    if wanted.startswith("(") and wanted.endswith(")"):
        hit = value in wanted[1:-1].split(",")
    else:
        hit = value == wanted
    return not hit if negated else hit


@dataclass(frozen=True)
class Reach:
    """The series a key may touch; no prefix and no filters means every series."""

    prefix: str | None = None
    filters: tuple[str, ...] = ()

    @property
    def unrestricted(self) -> bool:
        """True when every series is within reach."""
        return not self.prefix and not self.filters

    def allows_key(self, key: str) -> bool:
        """True when the key's name is within reach (the labels are checked apart)."""
        return not self.prefix or key.startswith(self.prefix)

    def allows_labels(self, labels: Mapping[str, str] | None) -> bool:
        """True when labels satisfy every filter (None, an unknown series, never does)."""
        if not self.filters:
            return True
        return labels is not None and all(filter_matches(f, labels) for f in self.filters)

    def describe(self) -> str:
        """In words, for error messages."""
        parts = []
        if self.prefix:
            parts.append(f"whose key starts with {self.prefix!r}")
        if self.filters:
            parts.append(f"whose labels match {' and '.join(self.filters)}")
        return "series " + " and ".join(parts) if parts else "every series"
