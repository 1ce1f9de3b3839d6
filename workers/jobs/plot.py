"""``plot``: an interactive Bokeh page and a PNG of one or more series.

Data is fetched as server-side aggregated buckets sized to the plot width (about one
bucket per pixel) whenever the range holds more than two samples per pixel, so a plot of
50 M points costs about what a plot of 5,000 does.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from typing import Any, Literal

from pydantic import Field

from plots.figures import PlotKind, PlotOptions, SeriesData, build_figure
from plots.render import to_html
from tsdb.models import Aggregation, Point, RangeQuery, SeriesInfo
from tsdb.paging import bounds_of, count_samples
from tsdb.rollups.config import load_rollups
from tsdb.rollups.plan import friendly_bucket
from tsdb.rollups.read import TieredRead, open_reads
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import format_iso
from workers.jobs.common import Selection, prepare_selection
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "PlotParams"]


Format = Literal["html", "png"]
FORMATS: tuple[Format, ...] = ("html", "png")


class PlotParams(Selection):
    """What to plot and how it looks."""

    agg: Aggregation | None = Field(
        None, description="Aggregator per pixel bucket; default avg when there is too much data"
    )
    kind: PlotKind = PlotKind.LINE
    log_y: bool = False
    width: int = Field(900, ge=200, le=4000, description="Pixels")
    height: int = Field(400, ge=150, le=3000, description="Pixels")
    title: str = Field("", max_length=300)
    x_label: str = Field("time", max_length=100)
    y_label: str = Field("value", max_length=100)
    formats: list[Format] = Field(default_factory=lambda: list(FORMATS), min_length=1)


async def prepare(params: PlotParams, store: TimeSeriesStore) -> PlotParams:
    resolved = await prepare_selection(params, store)
    return params.model_copy(update=resolved)


async def _fetch(
    store: TimeSeriesStore, params: PlotParams, keys: list[str], served: list[list[str]]
) -> tuple[list[list[Point]], Aggregation | None, int | None, int, tuple[int, int] | None]:
    infos = await asyncio.gather(*(store.info(k) for k in keys))
    bounds = bounds_of(infos, params.from_ms, params.to_ms)
    if bounds is None:
        return [[] for _ in keys], None, None, 0, None
    start, end = bounds
    aggregation = params.agg
    if aggregation is None:
        # One cheap probe per series: if none holds more than two samples per pixel, the
        # probe already is the raw data to plot.
        limit = 2 * params.width
        probe = RangeQuery(from_ts=start, to_ts=end, count=limit + 1)
        raw = await asyncio.gather(*(store.range(k, probe) for k in keys))
        if all(len(points) <= limit for points in raw):
            return list(raw), None, None, sum(len(p) for p in raw), bounds
        aggregation = Aggregation.AVG
    bucket, align = max(1, math.ceil((end - start + 1) / params.width)), start
    tiers = sorted({t for r in (await load_rollups(store.client, keys)).values() for t in r.tiers})
    friendly = friendly_bucket(tiers, start, end, params.width, aggregation)  # ROLLUPS
    bucket, align = friendly or (bucket, align)
    query = RangeQuery(
        from_ts=start, to_ts=end, aggregation=aggregation, bucket_ms=bucket, align=align
    )
    reads = await open_reads(store, keys, query)
    points = await asyncio.gather(*(_all(read) for read in reads))
    served.extend(list(read.served) for read in reads)
    counts = await asyncio.gather(*(_samples(store, info, start, end) for info in infos))
    return list(points), aggregation, bucket, sum(counts), bounds


async def _all(read: TieredRead) -> list[Point]:
    return [point async for page in read.pages() for point in page]


async def _samples(store: TimeSeriesStore, info: SeriesInfo, start: int, end: int) -> int:
    """Samples of a series in [start, end]: TS.INFO's total when the range covers it all."""
    first, last = info.first_timestamp, info.last_timestamp
    if first is None or last is None:
        return 0
    if start <= first and last <= end:
        return info.total_samples
    return await count_samples(store, info.key, start, end)


def run(params: PlotParams, job: JobRun) -> dict[str, Any]:
    """Interactive Bokeh page (plot.html) and PNG (plot.png) of series over a range."""
    keys = list(params.keys or [])
    job.progress(5, "reading series")
    labels = job.run(job.store.labels_of(keys))
    served: list[list[str]] = []  # the tiers that served each series' buckets
    points, aggregation, bucket, samples, bounds = job.run(_fetch(job.store, params, keys, served))
    job.progress(40, "building the figure")
    series = [
        SeriesData(
            key=key,
            t=[int(p[0]) for p in pts],
            v=[p[1] for p in pts],
            labels=labels.get(key, {}),
        )
        for key, pts in zip(keys, points, strict=True)
    ]
    options = PlotOptions(
        title=params.title,
        x_label=params.x_label,
        y_label=params.y_label,
        kind=params.kind,
        log_y=params.log_y,
        width=params.width,
        height=params.height,
    )
    figure = build_figure(series, options)
    if "html" in params.formats:
        job.progress(55, "writing the interactive page")
        page = to_html(figure, params.title or ", ".join(keys))
        job.save_file("plot.html", page.encode(), "text/html; charset=utf-8")
    if "png" in params.formats:
        job.progress(70, "rendering the PNG")
        job.save_file("plot.png", job.render_png(figure), "image/png")
    job.save_file("data.csv", _csv(keys, points), "text/csv; charset=utf-8")
    job.progress(100, "done")
    return {
        "series": [
            {"key": k, "point_count": len(p), **({"tiers": served[i]} if served else {})}
            for i, (k, p) in enumerate(zip(keys, points, strict=True))
        ],
        "samples_in_range": samples,
        "aggregation": aggregation,
        "bucket_ms": bucket,
        "from": bounds[0] if bounds else None,
        "to": bounds[1] if bounds else None,
        "files": [f.name for f in job.files],
    }


def _csv(keys: list[str], points: list[list[Point]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "t", "time", "v"])
    for key, pts in zip(keys, points, strict=True):
        for t, v in pts:
            writer.writerow([key, int(t), format_iso(int(t)), "" if v is None or v != v else v])
    return out.getvalue().encode()


JOB_TYPE = JobType.of("plot", PlotParams, prepare, run)
