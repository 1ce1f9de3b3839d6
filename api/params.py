"""Turning validated request models into data-layer queries (times, durations, options)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from api.reading import ReadOptions, wants_csv
from api.schemas import DurationIn, PageArgs, QueryArgs, RangeArgs, SeriesCreate, SeriesPatch
from core.fields import Labels, check_time_in
from tsdb.errors import InvalidInput
from tsdb.models import MultiRangeQuery, RangeQuery, SeriesConfig
from tsdb.timefmt import now_ms, parse_alignment, parse_bound, parse_duration, parse_timestamp

__all__ = ["check_labels", "multi_range_query", "parse_points", "range_query", "series_config"]


def _retention(value: DurationIn | None, field: str) -> int | None:
    if value is None:
        return None
    if value in (0, "0"):
        return 0
    return parse_duration(value, field)


def series_config(body: SeriesCreate | SeriesPatch) -> SeriesConfig:
    """The TS.CREATE / TS.ALTER options a request asks for."""
    return SeriesConfig(
        labels=body.labels,
        retention_ms=_retention(body.retention, "retention"),
        duplicate_policy=body.duplicate_policy,
        chunk_size=body.chunk_size,
        encoding=getattr(body, "encoding", None),
        ignore_max_time_diff=_retention(body.ignore_max_time_diff, "ignore_max_time_diff"),
        ignore_max_val_diff=body.ignore_max_val_diff,
    )


def range_query(args: RangeArgs) -> RangeQuery:
    """A :class:`RangeQuery` from query parameters; relative times use one 'now'."""
    now = now_ms()
    filter_by_value = None
    if args.filter_by_value is not None:
        parts = args.filter_by_value.split(",")
        try:
            low, high = (float(p) for p in parts)
        except ValueError:
            raise InvalidInput("filter_by_value must be 'min,max', e.g. 0,100") from None
        if not all(math.isfinite(x) for x in (low, high)):
            raise InvalidInput("filter_by_value bounds must be finite numbers")
        filter_by_value = (low, high)
    filter_by_ts: tuple[int, ...] = ()
    if args.filter_by_ts:
        filter_by_ts = tuple(parse_timestamp(t, "filter_by_ts", now) for t in args.filter_by_ts)
    align: int | str | None = None
    if args.align is not None:
        align = (
            args.align
            if args.align in ("start", "end")
            else parse_alignment(args.align, "align", now)
        )
    from_ts, to_ts = parse_bound(args.from_, "from", now), parse_bound(args.to, "to", now)
    if (align == "start" and from_ts is None) or (align == "end" and to_ts is None):
        align = None  # aligned to an open end: the module's default (epoch 0)
    return RangeQuery(
        from_ts=from_ts,
        to_ts=to_ts,
        reverse=args.reverse,
        latest=args.latest,
        filter_by_ts=filter_by_ts,
        filter_by_value=filter_by_value,
        count=args.count,
        aggregation=args.agg,
        bucket_ms=None if args.bucket is None else parse_duration(args.bucket, "bucket"),
        align=align,
        bucket_timestamp=args.bucket_timestamp,
        empty=args.empty,
    )


def read_options(args: RangeArgs) -> ReadOptions:
    """The API's own read options (max_points, fill, fn, format, paging, tier)."""
    return ReadOptions(
        max_points=args.max_points,
        fill=args.fill,
        fn=args.fn,
        csv=wants_csv(args.format),
        limit=args.limit if isinstance(args, PageArgs) else None,
        cursor=args.cursor if isinstance(args, PageArgs) else None,
        tier=args.tier,
    )


def multi_range_query(args: QueryArgs) -> MultiRangeQuery:
    """A :class:`MultiRangeQuery` from query parameters."""
    return MultiRangeQuery(
        filters=tuple(args.filter),
        range=range_query(args),
        with_labels=args.with_labels,
        selected_labels=tuple(args.selected_labels or ()),
        group_by=args.group_by,
        reducer=args.reduce,
    )


def parse_points(items: Sequence[Any], now: int | None = None) -> tuple[list[int], list[float]]:
    """Check a list of ``{"t", "v"}`` objects or ``[t, v]`` pairs.

    Every bad point is reported (index, field, reason) in one :class:`InvalidInput`,
    so a batch is either entirely valid or nothing of it is written.
    """
    now = now_ms() if now is None else now
    times: list[int] = []
    values: list[float] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            t, v = item.get("t"), item.get("v")
            extra = set(item) - {"t", "v"}
            if extra:
                errors.append(_err(index, "body", f"unknown field(s): {', '.join(sorted(extra))}"))
                continue
        elif isinstance(item, list | tuple) and len(item) == 2:
            t, v = item
        else:
            errors.append(_err(index, "body", 'a point is {"t": ..., "v": ...} or [t, v]'))
            continue
        if t is None:
            errors.append(_err(index, "t", "missing timestamp"))
            continue
        try:
            ts = parse_timestamp(check_time_in(t), "t", now)
        except InvalidInput as exc:
            errors.append(_err(index, "t", str(exc)))
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            errors.append(_err(index, "v", "value must be a number"))
            continue
        value = float(v)
        if not math.isfinite(value):
            errors.append(_err(index, "v", "value must be finite (no NaN or Infinity)"))
            continue
        times.append(ts)
        values.append(value)
    if errors:
        raise InvalidInput(
            f"{len(errors)} of {len(items)} point(s) are invalid; nothing was written",
            errors=errors[:1000],
        )
    return times, values


_LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)


def check_labels(raw: Any) -> dict[str, str]:
    """Labels from a hand-read body, by the rules of :data:`core.fields.Labels`."""
    try:
        return _LABELS.validate_python(raw, strict=True)
    except ValidationError as exc:
        raise InvalidInput(
            "labels must map label names to label values",
            errors=[
                {"field": "labels." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors(include_url=False)
            ],
        ) from None


def _err(index: int, field: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message}
