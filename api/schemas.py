"""Request and response models: validated by quart-schema and listed in /openapi.json."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, RootModel, StrictFloat

from core.fields import (
    MAX_TIME,
    AlignIn,
    BoundIn,
    DurationIn,
    FilterList,
    LabelName,
    Labels,
    QueryBool,
    RetentionIn,
    RuleAlignIn,
    SeriesKey,
    StrictModel,
    TimeIn,
    as_list,
    examples,
)
from tsdb.models import Aggregation, BucketTimestamp, DuplicatePolicy, Encoding, Reducer
from tsdb.rollups.models import TierChoice
from tsdb.transforms import FillPolicy, Function

ChunkSize = Annotated[
    int, Field(ge=48, le=1_048_576, multiple_of=8, description="Bytes per chunk, multiple of 8")
]
Value = Annotated[StrictFloat, Field(description="A finite number", examples=[21.5])]
TimeList = Annotated[list[TimeIn], BeforeValidator(as_list), Field(max_length=128)]
_NUMBER = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?"

__all__ = [
    "DeleteResult",
    "DeletedPerSeries",
    "HealthOut",
    "IgnoredPoint",
    "LabelValuesOut",
    "LabelsOut",
    "LatestOut",
    "NoContent",
    "PageArgs",
    "PointIn",
    "PointOut",
    "PointPair",
    "PointValue",
    "PointsOut",
    "PointsWithLabels",
    "Problem",
    "QueryArgs",
    "QueryOut",
    "RangeArgs",
    "ReadyOut",
    "RuleIn",
    "RuleOut",
    "RulesOut",
    "SeriesCreate",
    "SeriesListArgs",
    "SeriesListOut",
    "SeriesOut",
    "SeriesPatch",
    "StrictModel",
    "Value",
    "WriteArgs",
    "WritePointsBody",
    "WriteResult",
]


# -- series --------------------------------------------------------------------------------


class SeriesCreate(StrictModel):
    """A new series. Only ``key`` is required."""

    model_config = {
        "json_schema_extra": {
            "examples": [{"key": "temp:austin", "labels": {"city": "austin"}, "retention": "30d"}]
        }
    }

    key: SeriesKey
    labels: Labels = Field(default_factory=dict)
    retention: RetentionIn | None = Field(None, description="Keep samples this long; 0 = forever")
    duplicate_policy: DuplicatePolicy | None = None
    chunk_size: ChunkSize | None = None
    encoding: Encoding | None = None
    ignore_max_time_diff: RetentionIn | None = None
    ignore_max_val_diff: Annotated[StrictFloat, Field(ge=0)] | None = None


class SeriesPatch(StrictModel):
    """Changes to a series; ``labels`` replaces the whole label set."""

    model_config = {
        "json_schema_extra": {"examples": [{"labels": {"city": "austin", "unit": "C"}}]}
    }

    labels: Labels | None = None
    retention: RetentionIn | None = None
    duplicate_policy: DuplicatePolicy | None = None
    chunk_size: ChunkSize | None = None
    ignore_max_time_diff: RetentionIn | None = None
    ignore_max_val_diff: Annotated[StrictFloat, Field(ge=0)] | None = None


class RuleOut(BaseModel):
    """A compaction rule out of a series."""

    dest: str
    aggregation: Aggregation
    bucket_ms: int
    align_ms: int


class SeriesOut(BaseModel):
    """What the store knows about a series."""

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
    rules: list[RuleOut]


class SeriesListArgs(StrictModel):
    """Filters and paging for the series list."""

    filter: FilterList | None = None
    limit: int = Field(1000, ge=1, le=10_000)
    after: str | None = Field(None, description="Return keys after this one (the 'next' cursor)")


class SeriesItem(BaseModel):
    key: str
    labels: dict[str, str]


class SeriesListOut(BaseModel):
    series: list[SeriesItem]
    next: str | None = Field(None, description="Cursor for the next page, if there is one")


# -- points --------------------------------------------------------------------------------


class PointIn(StrictModel):
    """One sample."""

    t: TimeIn
    v: Value


class PointOut(BaseModel):
    """One sample as stored: epoch ms and value."""

    t: int
    v: float


PointPair = Annotated[tuple[TimeIn, Value], Field(description="[t, v]")]


class PointsWithLabels(StrictModel):
    """Points, and the labels of the series if this write creates it."""

    points: list[PointIn | PointPair] = Field(min_length=1)
    labels: Labels | None = None


class WritePointsBody(
    RootModel[
        PointIn | Annotated[list[PointIn | PointPair], Field(min_length=1)] | PointsWithLabels
    ]
):
    """One point, a list of points (objects or [t, v] pairs), or points with labels."""

    model_config = examples(
        [{"t": 1706702400000, "v": 21.5}, ["2024-01-31T12:01:00Z", 21.7]],
    )


class PointValue(StrictModel):
    """The value for ``PUT /v1/series/{key}/points/{t}``."""

    model_config = examples({"v": 22.1})

    v: Value


class WriteArgs(StrictModel):
    create: QueryBool = Field(False, description="Create the series (with body labels) if missing")


class IgnoredPoint(BaseModel):
    """A point that was not stored because the series' IGNORE filter dropped it."""

    index: int | None = Field(None, description="Its index in a JSON body")
    line: int | None = Field(None, description="Its line in a text body")
    key: str | None = None
    t: int | None = None
    v: float | None = None
    reason: str


class WriteResult(BaseModel):
    written: int = Field(description="Points stored")
    created: bool = False
    ignored: int = Field(0, description="Points the series' IGNORE filter dropped (not stored)")
    ignored_points: list[IgnoredPoint] = Field(
        default_factory=list, description="Each ignored point (the first 1,000)"
    )


class DeleteResult(BaseModel):
    deleted: int


class RangeArgs(StrictModel):
    """Every option of TS.RANGE, as query parameters."""

    from_: BoundIn | None = Field(None, alias="from", description="Start (inclusive); '-' = first")
    to: BoundIn | None = Field(None, description="End (inclusive); '+' = last")
    agg: Aggregation | None = Field(None, description="Aggregator per bucket", examples=["avg"])
    bucket: DurationIn | None = Field(None, description="Bucket width with agg")
    align: AlignIn | None = Field(
        None, description="Bucket alignment: start, end, a timestamp or a duration from the epoch"
    )
    bucket_timestamp: BucketTimestamp | None = None
    empty: QueryBool = Field(False, description="Report empty buckets too")
    filter_by_value: str | None = Field(
        None, pattern=f"^{_NUMBER},{_NUMBER}$", description="'min,max': keep values in range"
    )
    filter_by_ts: (
        Annotated[list[TimeIn], BeforeValidator(as_list), Field(max_length=128)] | None
    ) = Field(None, description="Keep only these timestamps (repeatable, at most 128)")
    count: int | None = Field(None, gt=0, description="At most this many samples/buckets")
    reverse: QueryBool = Field(False, description="Newest first (TS.REVRANGE)")
    latest: QueryBool = Field(False, description="Include the open bucket of a compaction")
    max_points: int | None = Field(
        None, ge=1, le=1_000_000, description="At most this many points: the API picks the bucket"
    )
    fill: FillPolicy | None = Field(None, description="Fill empty buckets: null, zero, ...")
    fn: Function | None = Field(None, description="rate, derivative, delta or cumsum")
    format: Literal["json", "csv"] | None = Field(None, description="Or Accept: text/csv")
    tier: TierChoice = Field(
        TierChoice.AUTO,
        description=(
            "auto: aggregated reads use the series' rollup tiers where they give the same "
            "answer (the answer's 'tiers' says which served it); raw: raw samples only"
        ),
    )


class PageArgs(RangeArgs):
    """A range read as pages instead of one stream."""

    limit: int | None = Field(None, ge=1, le=1_000_000, description="Points per page")
    cursor: int | None = Field(
        None, ge=0, le=MAX_TIME, description="The 'next' value of the previous page"
    )


class PointsOut(BaseModel):
    key: str
    points: list[tuple[int, float | None]]
    aggregation: Aggregation | None = None
    bucket_ms: int | None = None
    fill: FillPolicy | None = None
    fn: Function | None = None
    next: int | None = Field(None, description="With limit: cursor of the next page")
    tiers: list[str] | None = Field(
        None, description="Aggregated reads: the rollup tiers that served it (1h, 1m...) or raw"
    )


class QueryArgs(RangeArgs):
    """A multi-series query: label filters plus every range option."""

    filter: FilterList
    group_by: LabelName | None = Field(None, description="Group series by this label...")
    reduce: Reducer | None = Field(
        None, description="...and reduce each group with this", examples=["max"]
    )
    with_labels: QueryBool = True
    selected_labels: Annotated[list[LabelName], BeforeValidator(as_list)] | None = Field(
        None, description="Return only these labels"
    )


class SeriesPointsOut(BaseModel):
    key: str
    labels: dict[str, str]
    points: list[tuple[int, float | None]]
    tiers: list[str] | None = Field(
        None, description="Aggregated reads: the rollup tiers that served this series, or raw"
    )


class QueryOut(BaseModel):
    series: list[SeriesPointsOut]


class LatestArgs(StrictModel):
    filter: FilterList
    latest: QueryBool = Field(False, description="On a compacted series, the still-open bucket")
    with_labels: QueryBool = Field(True, description="Return each series' labels")
    selected_labels: Annotated[list[LabelName], BeforeValidator(as_list)] | None = Field(
        None, description="Return only these labels"
    )


class LatestItem(BaseModel):
    key: str
    labels: dict[str, str]
    t: int | None
    v: float | None


class LatestOut(BaseModel):
    series: list[LatestItem]


# -- rules ---------------------------------------------------------------------------------


class RuleIn(StrictModel):
    """A compaction rule: aggregate the source into ``dest`` per bucket."""

    model_config = {
        "json_schema_extra": {
            "examples": [{"dest": "temp:austin:1h", "agg": "avg", "bucket": "1h"}]
        }
    }

    dest: SeriesKey = Field(examples=["temp:austin:1h"])
    agg: Aggregation
    bucket: DurationIn
    align: RuleAlignIn = Field(
        0, description="Bucket alignment: a timestamp, or a duration from the epoch (10m)"
    )
    create_dest: bool = Field(
        True, description="Create the destination series if missing (else 409)"
    )
    dest_labels: Labels = Field(default_factory=dict)


class RulesOut(BaseModel):
    rules: list[RuleOut]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    timeseries_version: int


class LabelsOut(BaseModel):
    labels: list[str]


class LabelValuesOut(BaseModel):
    label: str
    values: list[str]
    counts: dict[str, int] | None = Field(
        None, description="Series per value, in the order of values (with_counts=true only)"
    )


class DeletedPerSeries(BaseModel):
    deleted: dict[str, int] = Field(description="Samples deleted, per series")
    total: int


class NoContent(BaseModel):
    """No content."""


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
