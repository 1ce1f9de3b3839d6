"""Pieces the job types share: selecting series and a time range, the parameters of the
analysis jobs, and reading a series into arrays."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict, Field, model_validator

from core.fields import BoundIn, FilterList, Labels, SeriesKey, StrictModel
from tsdb.errors import InvalidInput, NoSeriesMatch, SeriesNotFound
from tsdb.filters import parse_filters
from tsdb.keys import validate_key, validate_labels
from tsdb.models import Aggregation, RangeQuery
from tsdb.paging import DEFAULT_PAGE
from tsdb.rollups.read import iter_tiered_arrays
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import now_ms, parse_bound
from workers.errors import JobNotPossible

if TYPE_CHECKING:
    from workers.run import JobRun

__all__ = [
    "FORMATS",
    "MAX_SERIES",
    "AnalysisParams",
    "Format",
    "Selection",
    "dest_keys",
    "iter_pages",
    "prepare_selection",
    "read_array",
]

MAX_SERIES = 50

Format = Literal["html", "png"]
FORMATS: tuple[Format, ...] = ("html", "png")


class Selection(StrictModel):
    """Series (by ``keys`` or a label ``filter``) and a time range (open by default)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["keys"], "properties": {"keys": {"type": "array"}}},
                {"required": ["filter"], "properties": {"filter": {"type": "array"}}},
            ]
        }
    )

    keys: Annotated[list[SeriesKey], Field(min_length=1, max_length=MAX_SERIES)] | None = Field(
        None, description="Series keys (give keys or filter)", examples=[["temp:austin"]]
    )
    filter: FilterList | None = Field(None, description="Label filters (give keys or filter)")
    from_: BoundIn | None = Field(None, alias="from", description="Start; default: first sample")
    to: BoundIn | None = Field(None, description="End; default: last sample")

    @model_validator(mode="after")
    def _one_selector(self) -> Selection:
        if (self.keys is None) == (self.filter is None):
            raise ValueError("give either 'keys' or 'filter'")
        if self.keys is not None and not self.keys:
            raise ValueError("'keys' must not be empty")
        return self

    @property
    def from_ms(self) -> int | None:
        return None if self.from_ is None else int(self.from_)

    @property
    def to_ms(self) -> int | None:
        return None if self.to is None else int(self.to)


async def prepare_selection(selection: Selection, store: TimeSeriesStore) -> dict[str, Any]:
    """Check the selection against the store; return it resolved to keys and epoch ms, as
    the update of the params (``params.model_copy(update={**resolved, ...})``)."""
    now = now_ms()
    start = parse_bound(selection.from_, "from", now)
    end = parse_bound(selection.to, "to", now)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"from ({start}) is after to ({end})")
    if selection.keys is not None:
        keys = [validate_key(k) for k in dict.fromkeys(selection.keys)]
        found = await asyncio.gather(*(store.exists(k) for k in keys))
        for key, exists in zip(keys, found, strict=True):
            if not exists:
                raise SeriesNotFound(key)
    else:
        filters = parse_filters(selection.filter or [])
        keys = await store.keys(filters)
        if not keys:
            raise NoSeriesMatch(f"the filter {' '.join(filters)} matches no series")
    if len(keys) > MAX_SERIES:
        raise JobNotPossible(f"{len(keys)} series selected; a job takes at most {MAX_SERIES}")
    return {"keys": keys, "filter": None, "from_": start, "to": end}


class AnalysisParams(Selection):
    """What the analysis jobs share: the selection, writing back, and the plot's looks."""

    write: bool = Field(False, description="Write the result back as a series per source")
    write_key: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9:._{}-]{1,300}$",
        description="Key of the written series ({key} = source key)",
    )
    write_labels: Labels = Field(
        default_factory=dict, description="Labels of the written series (plus source, analysis)"
    )
    formats: list[Format] = Field(
        default_factory=lambda: list(FORMATS), description="Plots to make; [] for none"
    )
    width: int = Field(900, ge=200, le=4000, description="Plot width, pixels")
    height: int = Field(400, ge=150, le=3000, description="Plot height, pixels")
    title: str = Field("", max_length=300)


def dest_keys(params: AnalysisParams, default: str) -> dict[str, str]:
    """Source key -> key it is written back to (``write_key`` or ``default``); checked."""
    sources = list(params.keys or [])
    if not params.write:
        return {}
    template = params.write_key or default
    if len(sources) > 1 and "{key}" not in template:
        raise JobNotPossible("write_key must contain {key} when more than one series is analysed")
    dests = {s: template.replace("{key}", s) for s in sources}
    for dest in dests.values():
        try:
            validate_key(dest, "write_key")
        except InvalidInput as exc:
            raise JobNotPossible(str(exc)) from None
        if dest in dests:
            raise JobNotPossible(f"write_key would overwrite the analysed series {dest!r}")
    validate_labels(params.write_labels)
    return dests


def iter_pages(
    job: JobRun,
    key: str,
    start: int,
    end: int,
    *,
    agg: Aggregation | None = None,
    bucket: int | None = None,
    align: int | None = None,
    page: int = DEFAULT_PAGE,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """``(t, v)`` arrays of ``key`` in [start, end], ``page`` samples (or buckets of ``agg``,
    aligned to ``align``, by default ``start``) at a time; buckets come from the series'
    rollup tiers when they give the same answer."""
    query = _query(start, end, agg, bucket, start if align is None else align)
    pages = iter_tiered_arrays(job.store, key, query, page)  # ROLLUPS

    async def following() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        return await anext(pages, None)

    while (arrays := job.run(following())) is not None:
        yield arrays


def read_array(
    job: JobRun, key: str, start: int, end: int, **options: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """All of ``key`` in [start, end] as two arrays (the options of :func:`iter_pages`)."""
    pages = list(iter_pages(job, key, start, end, **options))
    if not pages:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return np.concatenate([t for t, _ in pages]), np.concatenate([v for _, v in pages])


def _query(
    start: int, end: int, agg: Aggregation | None, bucket: int | None, align: int
) -> RangeQuery:
    if agg is None or bucket is None:
        return RangeQuery(from_ts=start, to_ts=end)
    return RangeQuery(from_ts=start, to_ts=end, aggregation=agg, bucket_ms=bucket, align=align)
