"""Prometheus-style label matchers (``=``, ``!=``, ``=~``, ``!~``) as TS.QUERYINDEX filters.

Regular expressions are resolved through the series index's list of values of the label:
``host=~"web-.*"`` becomes ``host=(web-1,web-2)``, so that selecting series, label names and
label values by matchers runs on the module's own label index (``TimeSeriesStore.keys``,
:func:`tsdb.labels.label_names` and :func:`tsdb.labels.label_values` take the filters).
As in Prometheus, a matcher that matches the empty string also matches series without the
label, and regular expressions are anchored at both ends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from tsdb.errors import InvalidQuery
from tsdb.keys import LABEL_PATTERN, LABEL_VALUE_PATTERN
from tsdb.labels import label_counts
from tsdb.store import TimeSeriesStore

__all__ = ["LabelMatcher", "MatchOp", "filters_for"]


class MatchOp(StrEnum):
    """How a matcher compares a label's value."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class LabelMatcher:
    """``name op value``; a series without the label has the value ``""``."""

    name: str
    op: MatchOp
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False)
    """A regex matcher's value compiled by a caller with its own dialect (PromQL's RE2);
    without it, ``value`` is a Python regular expression."""

    def matches(self, value: str) -> bool:
        """True when a label value (``""`` for none) satisfies the matcher."""
        if self.op in (MatchOp.EQ, MatchOp.NE):
            return (value == self.value) == (self.op is MatchOp.EQ)
        pattern = self.regex
        if pattern is None:
            try:
                pattern = re.compile(self.value)
            except re.error as exc:
                raise InvalidQuery(f"{self.name}{self.op}{self.value!r}: {exc}") from None
        return (pattern.fullmatch(value) is not None) == (self.op is MatchOp.RE)


async def filters_for(
    store: TimeSeriesStore, matchers: Sequence[LabelMatcher]
) -> tuple[str, ...] | None:
    """The TS.QUERYINDEX filters selecting the series the matchers select, or None when no
    series can match (a regular expression that matches none of a label's values).

    The values of labels matched by a regular expression come from the series index. The
    module needs at least one positive filter: matchers that all match the empty string are
    refused (as Prometheus does).
    """
    filters: list[str] = []
    for m in matchers:
        if not LABEL_PATTERN.fullmatch(m.name):
            raise InvalidQuery(f"{m.name!r} is not a valid label name")
        if m.op in (MatchOp.EQ, MatchOp.NE):
            if m.value and not LABEL_VALUE_PATTERN.fullmatch(m.value):
                if m.op is MatchOp.EQ:
                    return None  # no label may hold such a value
                continue
            filters.append(f"{m.name}{m.op}{m.value}")
            continue
        values = list(await label_counts(store, m.name))
        if m.matches(""):
            refused = [v for v in values if not m.matches(v)]
            if refused:
                filters.append(f"{m.name}!=({','.join(refused)})")
        else:
            wanted = [v for v in values if m.matches(v)]
            if not wanted:
                return None
            filters.append(f"{m.name}=({','.join(wanted)})")
    if not any(_positive(f) for f in filters):
        raise InvalidQuery("at least one matcher must not match the empty string")
    return tuple(filters)


def _positive(text: str) -> bool:
    name, _, rest = text.partition("=")
    return not name.endswith("!") and rest != ""
