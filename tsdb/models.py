"""Typed values that cross the data layer's boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "CHUNK_GROWS_AT",
    "DEFAULT_DUPLICATE_POLICY",
    "LARGE_CHUNK_BYTES",
    "SMALL_CHUNK_BYTES",
    "Aggregation",
    "BucketTimestamp",
    "DuplicatePolicy",
    "Encoding",
    "LatestValue",
    "MultiRangeQuery",
    "Point",
    "RangeQuery",
    "Reducer",
    "Rule",
    "SeriesConfig",
    "SeriesInfo",
    "SeriesPoints",
]

Point = tuple[int, float]
"""A sample: epoch milliseconds and value."""


class Aggregation(StrEnum):
    """Every aggregator of TS.RANGE ... AGGREGATION (RedisTimeSeries 1.12)."""

    AVG = "avg"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    RANGE = "range"
    COUNT = "count"
    FIRST = "first"
    LAST = "last"
    STD_P = "std.p"
    STD_S = "std.s"
    VAR_P = "var.p"
    VAR_S = "var.s"
    TWA = "twa"


class Reducer(StrEnum):
    """Reducers of TS.MRANGE ... GROUPBY label REDUCE reducer."""

    AVG = "avg"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    RANGE = "range"
    COUNT = "count"
    STD_P = "std.p"
    STD_S = "std.s"
    VAR_P = "var.p"
    VAR_S = "var.s"


class DuplicatePolicy(StrEnum):
    """What a write to an existing timestamp does."""

    BLOCK = "block"
    FIRST = "first"
    LAST = "last"
    MIN = "min"
    MAX = "max"
    SUM = "sum"


class Encoding(StrEnum):
    """Chunk encoding of a series."""

    COMPRESSED = "compressed"
    UNCOMPRESSED = "uncompressed"


class BucketTimestamp(StrEnum):
    """Which timestamp an aggregated bucket reports: its start, end or middle."""

    START = "start"
    END = "end"
    MID = "mid"

    @property
    def arg(self) -> str:
        """The module's spelling (``-``, ``+``, ``~``)."""
        return {"start": "-", "end": "+", "mid": "~"}[self.value]


DEFAULT_DUPLICATE_POLICY = DuplicatePolicy.LAST
"""What tsapi gives a series created without a duplicate policy: a write to an existing
timestamp replaces the value, so re-ingesting a file is harmless (as in InfluxDB and
VictoriaMetrics). The module's own default, BLOCK, would refuse every point of it."""


SMALL_CHUNK_BYTES = 128
"""The chunk size tsapi gives a series created without one (the module's default is 4096):
a series of a few samples then takes ~1.1 KB of Redis memory instead of ~5 KB
(bench/RESULTS.md has the measurements)."""
LARGE_CHUNK_BYTES = 4096
"""The chunk size of series that hold many samples: ~6.6 bytes per sample of a random walk
against ~13 with 128-byte chunks."""
CHUNK_GROWS_AT = 256
"""Samples from which a series at :data:`SMALL_CHUNK_BYTES` moves to
:data:`LARGE_CHUNK_BYTES` for its new chunks (checked by every write; a write that brings
this many samples to a new series creates it with large chunks)."""


@dataclass(frozen=True)
class SeriesConfig:
    """Options of TS.CREATE / TS.ALTER; ``None`` means "leave as is / server default"."""

    labels: dict[str, str] | None = None
    retention_ms: int | None = None
    duplicate_policy: DuplicatePolicy | None = None
    chunk_size: int | None = None
    encoding: Encoding | None = None
    ignore_max_time_diff: int | None = None
    ignore_max_val_diff: float | None = None


@dataclass(frozen=True)
class Rule:
    """A compaction rule from one series into another."""

    dest: str
    bucket_ms: int
    aggregation: Aggregation
    align_ms: int = 0


@dataclass(frozen=True)
class SeriesInfo:
    """What TS.INFO tells about a series."""

    key: str
    labels: dict[str, str]
    total_samples: int
    memory_bytes: int
    first_timestamp: int | None
    last_timestamp: int | None
    retention_ms: int
    chunk_count: int
    chunk_size: int
    encoding: Encoding
    duplicate_policy: DuplicatePolicy | None
    ignore_max_time_diff: int
    ignore_max_val_diff: float
    source_key: str | None
    rules: list[Rule] = field(default_factory=list)


@dataclass(frozen=True)
class RangeQuery:
    """Every option of TS.RANGE / TS.REVRANGE.

    ``from_ts``/``to_ts`` of ``None`` mean the earliest/latest sample ('-'/'+').
    ``align`` is an epoch-ms number, or "start"/"end" (the module's ``-``/``+``).
    """

    from_ts: int | None = None
    to_ts: int | None = None
    reverse: bool = False
    latest: bool = False
    filter_by_ts: tuple[int, ...] = ()
    filter_by_value: tuple[float, float] | None = None
    count: int | None = None
    aggregation: Aggregation | None = None
    bucket_ms: int | None = None
    align: int | str | None = None
    bucket_timestamp: BucketTimestamp | None = None
    empty: bool = False


@dataclass(frozen=True)
class MultiRangeQuery:
    """TS.MRANGE / TS.MREVRANGE: a :class:`RangeQuery` over the series a filter selects."""

    filters: tuple[str, ...]
    range: RangeQuery = field(default_factory=RangeQuery)
    with_labels: bool = True
    selected_labels: tuple[str, ...] = ()
    group_by: str | None = None
    reducer: Reducer | None = None


@dataclass(frozen=True)
class SeriesPoints:
    """One series' answer to a multi-series query."""

    key: str
    labels: dict[str, str]
    points: list[Point]


@dataclass(frozen=True)
class LatestValue:
    """The newest sample of a series (TS.MGET); ``None`` for an empty series."""

    key: str
    labels: dict[str, str]
    point: Point | None
