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
    ├── WriteRejected           some points of a write were refused (each with its reason)
    └── StoreUnavailable        Redis unreachable or unable to serve, or the module missing
        ├── StoreTimeout        Redis did not answer in time
        ├── ModuleMissing
        └── IndexBusy           another process is rebuilding the series index

redis-py's errors become these in one place: :mod:`tsdb.faults`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tsdb.rejections import Rejections

__all__ = [
    "DeleteRefused",
    "IndexBusy",
    "InvalidInput",
    "InvalidQuery",
    "ModuleMissing",
    "NoSeriesMatch",
    "RuleConflict",
    "RuleNotFound",
    "SeriesExists",
    "SeriesNotFound",
    "StoreTimeout",
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


class WriteRejected(TsdbError):
    """Some points of a write were refused (by a parser, the validation or the server).

    ``written`` points went in (0 in atomic mode); ``rejections`` lists the others, each
    with its position (index in a JSON body, line in a text body) and the reason;
    ``ignored`` the points the series' IGNORE filter dropped (not an error on their own).
    """

    def __init__(
        self,
        rejections: Rejections,
        written: int,
        created: int = 0,
        atomic: bool = False,
        ignored: Rejections | None = None,
    ) -> None:
        self.rejections = rejections
        self.written = written
        self.created = created
        self.atomic = atomic
        self.ignored = ignored
        nothing = "; nothing was written" if atomic else ""
        super().__init__(f"{rejections.count} point(s) rejected, {written} written{nothing}")


class StoreUnavailable(TsdbError):
    """Redis cannot be reached or cannot serve time series right now."""


class StoreTimeout(StoreUnavailable):
    """Redis did not answer within the socket timeout (it may be frozen or overloaded)."""


class ModuleMissing(StoreUnavailable):
    """The Redis server answers but has no TimeSeries module loaded."""


class IndexBusy(StoreUnavailable):
    """Another process is rebuilding the series index."""


class DeleteRefused(TsdbError):
    """A delete tsapi does not send: it would crash the module (:mod:`tsdb.workarounds`)."""
