"""``downsample``: aggregate a source series into a new series, or install a compaction rule.

Buckets are computed by the server (TS.RANGE ... AGGREGATION) and written in pages, so a
range of any size takes bounded memory. In ``rule`` mode the history in the range is
written first, then a compaction rule keeps the destination up to date.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from pydantic import Field

from core.fields import BoundIn, DurationIn, Labels, SeriesKey, StrictModel
from tsdb.errors import InvalidInput, SeriesExists, SeriesNotFound
from tsdb.keys import validate_key, validate_labels
from tsdb.models import Aggregation, DuplicatePolicy, Rule, SeriesConfig
from tsdb.paging import count_samples, data_bounds
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import now_ms, parse_bound, parse_duration
from workers.errors import JobNotPossible
from workers.jobs.common import iter_pages
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "DownsampleParams"]

PAGE_BUCKETS = 50_000


class DownsampleParams(StrictModel):
    """Which series, how to aggregate it, and where the result goes."""

    source: SeriesKey
    agg: Aggregation
    bucket: DurationIn
    dest: SeriesKey | None = Field(None, description="Default: '<source>:<agg>:<bucket>'")
    from_: BoundIn | None = Field(None, alias="from")
    to: BoundIn | None = None
    mode: Literal["write", "rule"] = Field(
        "write", description="write: aggregate the range once; rule: also keep compacting"
    )
    dest_labels: Labels = Field(default_factory=dict)


async def prepare(params: DownsampleParams, store: TimeSeriesStore) -> DownsampleParams:
    source = validate_key(params.source, "source")
    if not await store.exists(source):
        raise SeriesNotFound(source)
    bucket_ms = parse_duration(params.bucket, "bucket")
    dest = params.dest or f"{source}:{params.agg.value}:{params.bucket}"
    try:
        validate_key(dest, "dest")
    except InvalidInput as exc:
        raise JobNotPossible(f"{exc}: give a shorter source key or a dest") from None
    if dest == source:
        raise InvalidInput("dest must differ from source")
    validate_labels(params.dest_labels)
    if params.mode == "rule":
        store.check_same_slot(source, dest)
    now = now_ms()
    start = parse_bound(params.from_, "from", now)
    end = parse_bound(params.to, "to", now)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"from ({start}) is after to ({end})")
    return params.model_copy(update={"dest": dest, "bucket": bucket_ms, "from_": start, "to": end})


async def _ensure_dest(store: TimeSeriesStore, params: DownsampleParams) -> None:
    labels = {
        **params.dest_labels,
        "source": params.source,
        "aggregation": params.agg.value,
        "bucket_ms": str(params.bucket),
    }
    # LAST: running the same downsample again replaces buckets instead of failing
    with contextlib.suppress(SeriesExists):
        await store.create(
            str(params.dest), SeriesConfig(labels=labels, duplicate_policy=DuplicatePolicy.LAST)
        )


def run(params: DownsampleParams, job: JobRun) -> dict[str, Any]:
    """Aggregate a series into a new one per bucket, optionally keeping a rule."""
    store = job.store
    dest = str(params.dest)
    bucket = int(params.bucket)
    job.progress(2, "preparing the destination")
    job.run(_ensure_dest(store, params))
    start = None if params.from_ is None else int(params.from_)
    end = None if params.to is None else int(params.to)
    bounds = job.run(data_bounds(store, [params.source], start, end))
    read = written = 0
    if bounds is not None:
        low, high = bounds
        read = job.run(count_samples(store, params.source, low, high))
        # buckets aligned to 0, as a compaction rule aligns them (mode=rule continues this)
        pages = iter_pages(
            job, params.source, low, high, agg=params.agg, bucket=bucket, align=0, page=PAGE_BUCKETS
        )
        for t, v in pages:
            written += job.run(store.write_series(dest, t, v)).written
            done = (min(int(t[-1]) + bucket, high) - low) / max(1, high - low)
            job.progress(5 + int(85 * done), f"{written} buckets written")
    rule = False
    if params.mode == "rule":
        job.progress(95, "installing the compaction rule")
        job.run(
            store.create_rule(
                params.source, Rule(dest=dest, bucket_ms=bucket, aggregation=params.agg)
            )
        )
        rule = True
    job.progress(100, "done")
    return {
        "source": params.source,
        "dest": dest,
        "aggregation": params.agg,
        "bucket_ms": bucket,
        "points_read": read,
        "points_written": written,
        "rule_installed": rule,
    }


JOB_TYPE = JobType.of("downsample", DownsampleParams, prepare, run)
