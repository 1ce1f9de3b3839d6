"""Domain errors raised by the data layer.

The API maps each class to one problem+json response (``api/errors.py``); nothing
here knows about HTTP. The tree::

    TsdbError
    ├── InvalidInput            bad key, label, filter, time or option (client error)
    │   ├── InvalidQuery        a query the module would reject (bad range, aggregation...)
    │   └── NoSeriesMatch       a label filter that selects no series
    ├── SeriesNotFound
    ├── SeriesExists
    ├── RuleNotFound
    ├── RuleConflict            destination already compacted, or rule already there
    ├── WriteRejected           some points of a batch were refused by the server
    └── StoreUnavailable        Redis unreachable, or the TimeSeries module missing
        └── ModuleMissing
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "InvalidInput",
    "InvalidQuery",
    "ModuleMissing",
    "NoSeriesMatch",
    "PointError",
    "RuleConflict",
    "RuleNotFound",
    "SeriesExists",
    "SeriesNotFound",
    "StoreUnavailable",
    "TsdbError",
    "WriteRejected",
]


class TsdbError(Exception):
    """Base class of every error the data layer raises on purpose."""


class InvalidInput(TsdbError):
    """A key, label, filter, timestamp, value or option that cannot be accepted.

    ``errors`` optionally lists field-level problems as ``{"field", "message"}`` dicts.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class InvalidQuery(InvalidInput):
    """A query the module would refuse (for example ``from`` after ``to``)."""


class NoSeriesMatch(InvalidInput):
    """A label filter selects no series (where at least one is needed)."""


class SeriesNotFound(TsdbError):
    """The series does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"series {key!r} does not exist")
        self.key = key


class SeriesExists(TsdbError):
    """A series with this key already exists."""

    def __init__(self, key: str) -> None:
        super().__init__(f"series {key!r} already exists")
        self.key = key


class RuleNotFound(TsdbError):
    """No compaction rule from the source to that destination."""

    def __init__(self, source: str, dest: str) -> None:
        super().__init__(f"series {source!r} has no compaction rule into {dest!r}")
        self.source = source
        self.dest = dest


class RuleConflict(TsdbError):
    """The rule cannot be created (destination already compacted from a source, ...)."""


@dataclass(frozen=True)
class PointError:
    """One point of a batch that the server refused, and why."""

    index: int
    key: str
    t: int
    v: float
    reason: str


@dataclass
class WriteRejected(TsdbError):
    """Some points of a batch were refused by the server; the others were written."""

    written: int
    rejected: list[PointError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(f"{len(self.rejected)} point(s) rejected, {self.written} written")

    @property
    def all_duplicates(self) -> bool:
        """True when every rejection is a duplicate timestamp blocked by the policy."""
        return all(e.reason.startswith("duplicate") for e in self.rejected)


class StoreUnavailable(TsdbError):
    """Redis cannot be reached or cannot serve time series right now."""


class ModuleMissing(StoreUnavailable):
    """The Redis server answers but has no TimeSeries module loaded."""
