"""Typed values the client returns, built from the API's JSON (``from_json``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

__all__ = [
    "Aggregation",
    "BucketTimestamp",
    "BulkResult",
    "DuplicatePolicy",
    "Encoding",
    "FillPolicy",
    "Function",
    "Health",
    "IngestSummary",
    "Job",
    "JobFile",
    "JobStatus",
    "JobType",
    "LatestValue",
    "Point",
    "Points",
    "Progress",
    "QueryResult",
    "Reducer",
    "RollupPolicy",
    "Rollups",
    "Rule",
    "Schedule",
    "Series",
    "SeriesPoints",
    "SeriesSummary",
    "Tier",
    "TierCoverage",
    "WriteResult",
]

StrEnumT = TypeVar("StrEnumT", bound=StrEnum)

Point = tuple[int, float | None]
"""A sample: epoch milliseconds and value (``None`` for an empty bucket)."""


class Aggregation(StrEnum):
    """Aggregators of a range query or a compaction rule."""

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
    """Reducers of a grouped multi-series query."""

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
    """Which timestamp an aggregated bucket reports."""

    START = "start"
    END = "end"
    MID = "mid"


class FillPolicy(StrEnum):
    """How empty buckets of an aggregated read are filled."""

    NULL = "null"
    ZERO = "zero"
    PREVIOUS = "previous"
    LINEAR = "linear"


class Function(StrEnum):
    """A transform applied to the values of a read."""

    RATE = "rate"
    DERIVATIVE = "derivative"
    DELTA = "delta"
    CUMSUM = "cumsum"


class JobStatus(StrEnum):
    """The life of a job: queued, started, then finished, failed or canceled."""

    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        """True once the job will not change any more."""
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED)


def _points(items: list[Any]) -> list[Point]:
    return [(int(t), None if v is None else float(v)) for t, v in items]


def _enum(kind: type[StrEnumT], value: Any) -> StrEnumT | None:
    return None if value is None else kind(value)


class Points(list[Point]):
    """The points of a series read, a list of ``(t, v)``, with what the API chose or says.

    ``aggregation`` and ``bucket_ms`` are set for aggregated reads (also when ``max_points``
    made the API pick them), ``tiers`` says which rollup tiers served them (``["1h", "raw"]``),
    ``fill``/``fn`` echo those options, and ``next`` is the cursor of the next page of a
    paged read (None on the last page).
    """

    def __init__(
        self,
        points: Iterable[Point] = (),
        *,
        key: str = "",
        aggregation: Aggregation | None = None,
        bucket_ms: int | None = None,
        fill: FillPolicy | None = None,
        fn: Function | None = None,
        next: int | None = None,
        tiers: list[str] | None = None,
    ) -> None:
        super().__init__(points)
        self.key = key
        self.aggregation = aggregation
        self.bucket_ms = bucket_ms
        self.fill = fill
        self.fn = fn
        self.next = next
        self.tiers = tiers

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Points:
        return cls(
            _points(data["points"]),
            key=data.get("key", ""),
            aggregation=_enum(Aggregation, data.get("aggregation")),
            bucket_ms=data.get("bucket_ms"),
            fill=_enum(FillPolicy, data.get("fill")),
            fn=_enum(Function, data.get("fn")),
            next=data.get("next"),
            tiers=data.get("tiers"),
        )


@dataclass(frozen=True, slots=True)
class Health:
    """``GET /readyz``: Redis reachable with the TimeSeries module."""

    status: str
    timeseries_version: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Health:
        return cls(status=data["status"], timeseries_version=int(data["timeseries_version"]))


@dataclass(frozen=True, slots=True)
class Rule:
    """A compaction rule out of a series."""

    dest: str
    aggregation: Aggregation
    bucket_ms: int
    align_ms: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rule:
        return cls(
            dest=data["dest"],
            aggregation=Aggregation(data["aggregation"]),
            bucket_ms=int(data["bucket_ms"]),
            align_ms=int(data.get("align_ms") or 0),
        )


@dataclass(frozen=True, slots=True)
class TierCoverage:
    """Raw time (epoch ms, inclusive) a tier answers for."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Tier:
    """A rollup tier: buckets of ``bucket_ms`` kept ``retention_ms`` (0: forever). Read from a
    series, it also says what it covers, how far it is filled and how big it is."""

    bucket: str
    bucket_ms: int
    retention_ms: int = 0
    covers: TierCoverage | None = None
    filled_to: int | None = None
    buckets: int = 0
    memory_bytes: int = 0
    series: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tier:
        covers = data.get("covers")
        return cls(
            bucket=data["bucket"],
            bucket_ms=int(data["bucket_ms"]),
            retention_ms=int(data.get("retention_ms") or 0),
            covers=None if not covers else TierCoverage(int(covers["from"]), int(covers["to"])),
            filled_to=data.get("filled_to"),
            buckets=int(data.get("buckets") or 0),
            memory_bytes=int(data.get("memory_bytes") or 0),
            series=list(data.get("series") or []),
        )


@dataclass(frozen=True, slots=True)
class Rollups:
    """A series' rollup tiers: where they come from (``series`` or ``policy:<name>``),
    whether a backfill is still filling them, and the job that does (after a set)."""

    key: str
    tiers: list[Tier]
    origin: str | None = None
    pending: bool = False
    raw_samples: int = 0
    raw_memory_bytes: int = 0
    backfill_job: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rollups:
        raw = data.get("raw") or {}
        return cls(
            key=data["key"],
            tiers=[Tier.from_json(t) for t in data.get("tiers") or []],
            origin=data.get("origin"),
            pending=bool(data.get("pending")),
            raw_samples=int(raw.get("samples") or 0),
            raw_memory_bytes=int(raw.get("memory_bytes") or 0),
            backfill_job=data.get("backfill_job"),
        )


@dataclass(frozen=True, slots=True)
class RollupPolicy:
    """Tiers for every series a label filter selects, including series created later."""

    name: str
    filter: list[str]
    tiers: list[Tier]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RollupPolicy:
        return cls(
            name=data["name"],
            filter=list(data["filter"]),
            tiers=[Tier.from_json(t) for t in data["tiers"]],
        )


@dataclass(frozen=True, slots=True)
class Series:
    """Everything the API says about a series."""

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
    rules: list[Rule]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Series:
        policy = data.get("duplicate_policy")
        return cls(
            key=data["key"],
            labels=dict(data.get("labels") or {}),
            total_samples=int(data["total_samples"]),
            memory_bytes=int(data["memory_bytes"]),
            first_timestamp=data.get("first_timestamp"),
            last_timestamp=data.get("last_timestamp"),
            retention_ms=int(data["retention_ms"]),
            chunk_count=int(data["chunk_count"]),
            chunk_size=int(data["chunk_size"]),
            encoding=Encoding(data["encoding"]),
            duplicate_policy=None if policy is None else DuplicatePolicy(policy),
            ignore_max_time_diff=int(data.get("ignore_max_time_diff") or 0),
            ignore_max_val_diff=float(data.get("ignore_max_val_diff") or 0.0),
            source_key=data.get("source_key"),
            rules=[Rule.from_json(r) for r in data.get("rules") or []],
        )


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """A series in a list: its key and labels."""

    key: str
    labels: dict[str, str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesSummary:
        return cls(key=data["key"], labels=dict(data.get("labels") or {}))


@dataclass(frozen=True, slots=True)
class SeriesPoints:
    """One series of a multi-series query (a group, with ``group_by``)."""

    key: str
    labels: dict[str, str]
    points: list[Point]
    tiers: list[str] | None = None
    """Aggregated reads: the rollup tiers that served this series (``raw`` for raw samples)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesPoints:
        return cls(
            key=data["key"],
            labels=dict(data.get("labels") or {}),
            points=_points(data["points"]),
            tiers=data.get("tiers"),
        )


class QueryResult(list[SeriesPoints]):
    """The series of a multi-series query, with the ``aggregation`` and ``bucket_ms`` used."""

    def __init__(
        self,
        series: Iterable[SeriesPoints] = (),
        *,
        aggregation: Aggregation | None = None,
        bucket_ms: int | None = None,
    ) -> None:
        super().__init__(series)
        self.aggregation = aggregation
        self.bucket_ms = bucket_ms

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueryResult:
        return cls(
            (SeriesPoints.from_json(s) for s in data["series"]),
            aggregation=_enum(Aggregation, data.get("aggregation")),
            bucket_ms=data.get("bucket_ms"),
        )


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest sample of a series (``t``/``v`` are None for an empty series)."""

    key: str
    labels: dict[str, str]
    t: int | None
    v: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatestValue:
        v = data.get("v")
        return cls(
            key=data["key"],
            labels=dict(data.get("labels") or {}),
            t=data.get("t"),
            v=None if v is None else float(v),
        )


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A write to one series: points stored, whether the series was created, and the points
    the series' IGNORE filter dropped (``ignored``; each with its reason in
    ``ignored_points``)."""

    written: int
    created: bool = False
    ignored: int = 0
    ignored_points: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WriteResult:
        return cls(
            written=int(data["written"]),
            created=bool(data.get("created", False)),
            ignored=int(data.get("ignored", 0)),
            ignored_points=list(data.get("ignored_points") or []),
        )


@dataclass(frozen=True, slots=True)
class BulkResult:
    """A write to many series: points stored, series written to, series created, and the
    points the series' IGNORE filter dropped (``ignored``, each in ``ignored_points``)."""

    written: int
    series: int
    created: int
    ignored: int = 0
    ignored_points: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BulkResult:
        return cls(
            written=int(data["written"]),
            series=int(data["series"]),
            created=int(data["created"]),
            ignored=int(data.get("ignored", 0)),
            ignored_points=list(data.get("ignored_points") or []),
        )


@dataclass(frozen=True, slots=True)
class IngestSummary:
    """What ``write_file`` did: points written, series created, and every rejected point.

    ``rejected`` holds the first 1000 refused points (``line`` numbers count in the file,
    ``index`` for JSON), ``rejected_count`` all of them; ``requests`` is how many requests the
    file was sent in.
    """

    written: int = 0
    created: int = 0
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a job is, 0-100, with a short message."""

    percent: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class JobFile:
    """A file a job produced; ``url`` is relative to the API's base URL."""

    name: str
    content_type: str
    size: int
    url: str


@dataclass(frozen=True, slots=True)
class Job:
    """A job as the API shows it."""

    id: str
    type: str
    status: JobStatus
    progress: Progress
    params: dict[str, Any]
    created_at: int | None
    started_at: int | None
    ended_at: int | None
    worker: str | None
    error: str | None
    cancel_requested: bool
    attempts: int
    files: list[JobFile]
    links: dict[str, str]
    depends_on: list[str] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        """True once the job is finished, failed or canceled."""
        return self.status.ended

    def file(self, name: str) -> JobFile | None:
        """The file called ``name``, if the job made one."""
        return next((f for f in self.files if f.name == name), None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        progress = data.get("progress") or {}
        return cls(
            id=data["id"],
            type=data["type"],
            status=JobStatus(data["status"]),
            progress=Progress(int(progress.get("percent", 0)), str(progress.get("message", ""))),
            params=dict(data.get("params") or {}),
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            worker=data.get("worker"),
            error=data.get("error"),
            cancel_requested=bool(data.get("cancel_requested", False)),
            attempts=int(data.get("attempts", 0)),
            files=[
                JobFile(f["name"], f["content_type"], int(f["size"]), f["url"])
                for f in data.get("files") or []
            ],
            links=dict(data.get("links") or {}),
            depends_on=list(data.get("depends_on") or []),
            dependents=list(data.get("dependents") or []),
        )


@dataclass(frozen=True, slots=True)
class JobType:
    """A job type the server runs, with the JSON Schema of its params."""

    name: str
    description: str
    params_schema: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobType:
        return cls(
            name=data["name"],
            description=data.get("description", ""),
            params_schema=dict(data.get("params_schema") or {}),
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """A job run again and again, on a cron expression or every ``every_ms``."""

    id: str
    type: str
    params: dict[str, Any]
    cron: str | None
    every_ms: int | None
    next_run: int
    created_at: int
    runs: int = 0
    last_job: str | None = None
    last_error: str | None = None
    jobs: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            id=data["id"],
            type=data["type"],
            params=dict(data.get("params") or {}),
            cron=data.get("cron"),
            every_ms=data.get("every_ms"),
            next_run=int(data["next_run"]),
            created_at=int(data["created_at"]),
            runs=int(data.get("runs") or 0),
            last_job=data.get("last_job"),
            last_error=data.get("last_error"),
            jobs=list(data.get("jobs") or []),
        )
