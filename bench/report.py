"""The result table: rows built from the timings, printed and saved as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.aggregate import RangeTimes
from bench.bulk import FORMS, BulkTimes
from bench.ingest import IngestTimes
from bench.jobs import IN_FLIGHT, JobTimes
from bench.rawrange import RawRangeTimes
from bench.readers import ReaderTimes
from bench.rollups import RollupTimes
from bench.stats import median

__all__ = [
    "HTML_TARGET",
    "NOOP_TARGET",
    "PNG_TARGET",
    "RANGE_TARGET",
    "RAW_RANGE_TARGET",
    "Row",
    "bulk_rows",
    "format_table",
    "ingest_row",
    "job_rows",
    "range_row",
    "raw_range_rows",
    "reader_rows",
    "rollup_rows",
    "write_json",
]

RANGE_TARGET = 1.5
"""The API may take at most this many times as long as TS.RANGE itself."""
RAW_RANGE_TARGET = 2.0
"""Reading every sample through the API may take at most this many times as long as
TS.RANGE through redis-py."""
HTML_TARGET = 0.5
"""Seconds from submitting an HTML plot job of the large series to seeing it finished."""
PNG_TARGET = 1.5
"""The same for a PNG plot job (on a worker whose Chromium is already running)."""
NOOP_TARGET = 100.0
"""No-op jobs per second one worker must run."""
TIERED_VIEW_MS = 20.0
"""A whole-year ``max_points=2000`` read served by tiers: at most this many milliseconds..."""
TIERED_SPEEDUP = 1 / 30
"""...and at most this fraction of the same buckets read from raw samples."""
UI_VIEW_MS = 100.0
"""The web UI's four-series year view, all four answers read."""
BACKFILL_SECONDS = 60.0
"""Filling the three tiers of a year of per-second data."""
TIER_MEMORY = 0.05
"""The tiers' memory as a share of the raw series'."""
INGEST_WITH_TIERS = 0.7
"""Ingest rate with three tiers on every series, as a share of the rate without tiers."""


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Rows with a ``raw`` side compare the same work through the API and against Redis
    directly, and their target bounds the ratio; rows without one (the job rows) show
    the API's figure alone, and their target bounds that figure.
    """

    work: str
    unit: str
    api: float
    raw: float | None
    ratio: float | None
    """``api / raw`` of the figures shown (None without a raw side)."""
    higher_is_better: bool
    target: float | None = None
    """Bound on ``ratio`` (or on ``api`` without a raw side): a maximum when lower is
    better, else a minimum; None if unset."""

    @property
    def met(self) -> bool | None:
        """Whether the ratio (or figure) is within the target (None without a target)."""
        if self.target is None:
            return None
        value = self.api if self.ratio is None else self.ratio
        return value >= self.target if self.higher_is_better else value <= self.target

    def as_dict(self) -> dict[str, Any]:
        """The row for the JSON file."""
        return {**asdict(self), "met": self.met}


def ingest_row(times: IngestTimes) -> Row:
    """Samples per second of the median run, both ways (higher is better)."""
    api = times.points / median(times.api)
    raw = times.points / median(times.raw)
    work = f"ingest {times.points:,} pts in one batch (median of {len(times.api)})"
    return Row(work, "samples/s", api, raw, api / raw, higher_is_better=True)


def range_row(times: RangeTimes) -> Row:
    """Milliseconds of the median query, both ways (lower is better)."""
    api = median(times.api) * 1000
    raw = median(times.raw) * 1000
    work = f"avg over {times.points:,} pts, {times.buckets:,} buckets (median of {len(times.api)})"
    return Row(work, "ms", api, raw, api / raw, higher_is_better=False, target=RANGE_TARGET)


def bulk_rows(times: BulkTimes) -> list[Row]:
    """Samples per second of each form's median run vs the raw load's (higher is better)."""
    targets = {form.name: form.target for form in FORMS}
    rows = []
    for form in times.forms:
        api = times.points / median(form.api)
        raw = times.points / median(form.raw)
        work = (
            f"ingest {times.points:,} pts in {times.series} series: POST /v1/points "
            f"{form.form} (median of {len(form.api)})"
        )
        rows.append(Row(work, "samples/s", api, raw, api / raw, True, targets[form.form]))
    return rows


def raw_range_rows(times: RawRangeTimes) -> list[Row]:
    """Milliseconds of the median query each format vs TS.RANGE (lower is better), and the
    API process's largest memory growth during one of them."""
    raw = median(times.raw) * 1000
    rows = []
    for name, fmt in times.api.items():
        api = median(fmt.seconds) * 1000
        work = f"raw range of {times.points:,} pts as {name} (median of {len(fmt.seconds)})"
        rows.append(Row(work, "ms", api, raw, api / raw, False, RAW_RANGE_TARGET))
    for name, fmt in times.api.items():
        growth = fmt.fresh.growth if fmt.fresh is not None else None
        if growth is not None:
            work = (
                f"  API process RSS growth (peak over before) serving it as {name}, fresh process"
            )
            rows.append(Row(work, "MiB", growth / 2**20, None, None, False))
    return rows


def reader_rows(times: ReaderTimes) -> list[Row]:
    """Requests per second of the small range query, per API process count, vs redis-py."""
    raw = times.raw.per_second if times.raw is not None else None
    rows = []
    for workers, rate in sorted(times.api.items()):
        work = (
            f"{times.window}-pt range, {times.clients} clients ({times.client}), "
            f"{times.seconds:g} s: API with {workers} server process{'es' if workers > 1 else ''}"
        )
        busiest = sorted(rate.process_cpu, reverse=True)[:workers]
        if workers > 1 and sum(busiest) > 0:
            split = "/".join(f"{100 * c / sum(busiest):.0f}" for c in busiest)
            work += f" (CPU split {split} %)"
        ratio = rate.per_second / raw if raw else None
        rows.append(Row(work, "req/s", rate.per_second, raw, ratio, True))
    return rows


def job_rows(times: JobTimes) -> list[Row]:
    """Plot latencies (lower is better) and no-op rates (higher is better), API side only."""
    points = f"{times.points:,} pts"
    rows = [
        Row(
            f"first PNG plot job of {points} on a fresh worker (imports, Chromium start)",
            "s",
            times.first_png.seconds,
            None,
            None,
            higher_is_better=False,
        )
    ]
    for name, runs, target in (("HTML", times.html, HTML_TARGET), ("PNG", times.png, PNG_TARGET)):
        seconds = [run.seconds for run in runs]
        work = (
            f"{name} plot job of {points}, submit->finished "
            f"(median of {len(runs)}, max {max(seconds):.3f} s)"
        )
        rows.append(Row(work, "s", median(seconds), None, None, False, target))
    count = f"{times.noop_jobs:,}"
    if times.api_submit is not None:
        rows.append(
            Row(
                f"noop jobs submitted via API, {IN_FLIGHT} in flight ({count}, workers paused)",
                "jobs/s",
                times.api_submit.per_second,
                None,
                None,
                higher_is_better=True,
            )
        )
    if times.direct_submit is not None:
        rows.append(
            Row(
                f"noop jobs submitted with JobQueue.submit, one by one ({count}, workers paused)",
                "jobs/s",
                times.direct_submit.per_second,
                None,
                None,
                higher_is_better=True,
            )
        )
    for workers, rate in sorted(times.workers.items()):
        per = "" if workers == 1 else f", {rate.per_second / workers:,.0f} per worker"
        rows.append(
            Row(
                f"noop jobs run by {workers} worker{'s' if workers > 1 else ''} "
                f"({count} queued, while all busy{per})",
                "jobs/s",
                rate.per_second,
                None,
                None,
                higher_is_better=True,
                target=NOOP_TARGET if workers == 1 else None,
            )
        )
    if times.api_end_to_end is not None:
        rows.append(
            Row(
                f"noop jobs via API with 1 worker running ({count}, first POST->last finished)",
                "jobs/s",
                times.api_end_to_end.per_second,
                None,
                None,
                higher_is_better=True,
            )
        )
    return rows


def rollup_rows(times: RollupTimes) -> list[Row]:
    """Tiered vs raw reads (lower is better), backfill, memory and ingest with tiers."""
    year = f"{times.points:,} pts"
    view = median(times.view) * 1000
    view_raw = median(times.view_raw) * 1000
    ui = median(times.ui) * 1000
    ui_raw = median(times.ui_raw) * 1000
    tier_bytes = sum(times.tier_memory.values())
    plain = times.ingest_points / median(times.ingest_plain)
    tiered = times.ingest_points / median(times.ingest_tiered)
    runs = len(times.view)
    tiers_mib = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in times.tier_memory.items())
    return [
        Row(
            f"whole range of {year}, max_points={MAX_POINTS_SHOWN}: {times.view_buckets:,} "
            f"buckets of {times.view_bucket_ms // 60_000} min from tiers "
            f"{'+'.join(times.view_tiers)} vs the same buckets with tier=raw (median of {runs})",
            "ms",
            view,
            view_raw,
            view / view_raw,
            False,
            TIERED_SPEEDUP,
        ),
        Row(
            f"  the same tiered read: at most {TIERED_VIEW_MS:g} ms",
            "ms",
            view,
            None,
            None,
            False,
            TIERED_VIEW_MS,
        ),
        Row(
            f"web UI year view of 4 series ({times.ui_buckets:,} buckets of "
            f"{times.ui_bucket_ms // 3_600_000} h, 4 requests at once; median of {len(times.ui)}, "
            f"raw: of {len(times.ui_raw)})",
            "ms",
            ui,
            ui_raw,
            ui / ui_raw,
            False,
        ),
        Row(
            f"  the same tiered view: under {UI_VIEW_MS:g} ms",
            "ms",
            ui,
            None,
            None,
            False,
            UI_VIEW_MS,
        ),
        Row(
            f"backfill of three tiers (1m/90d, 1h/730d, 1d) of {year}, PUT->job finished",
            "s",
            times.backfill_seconds,
            None,
            None,
            False,
            BACKFILL_SECONDS,
        ),
        Row(
            f"tiers' memory ({tiers_mib}) vs the raw series' ({times.raw_memory / 2**20:,.0f} MiB)",
            "MiB",
            tier_bytes / 2**20,
            times.raw_memory / 2**20,
            tier_bytes / times.raw_memory,
            False,
            TIER_MEMORY,
        ),
        Row(
            f"ingest {times.ingest_points:,} pts in {times.ingest_series} new series, POST "
            f"/v1/points JSON columnar: three tiers on every series vs none "
            f"(median of {len(times.ingest_tiered)})",
            "samples/s",
            tiered,
            plain,
            tiered / plain,
            True,
            INGEST_WITH_TIERS,
        ),
    ]


MAX_POINTS_SHOWN = 2_000


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "s":
        return f"{value:,.3f} s"
    if unit == "MiB":
        return f"{value:,.1f} MiB"
    return f"{value:,.0f} {unit}"


def _target(row: Row) -> str:
    if row.target is None:
        return "-"
    sign = ">=" if row.higher_is_better else "<="
    bound = f"{row.target:g}" if row.ratio is not None else f"{row.target:g} {row.unit}"
    return f"{sign} {bound} ({'met' if row.met else 'MISSED'})"


def format_table(rows: list[Row]) -> str:
    """The rows as an aligned plain-text table."""
    header = ("work", "API", "raw Redis", "API/raw", "target")
    lines = [
        (
            r.work,
            _figure(r.api, r.unit),
            _figure(r.raw, r.unit),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            _target(r),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)

    def render(cells: tuple[str, ...]) -> str:
        left = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([left, *rest]).rstrip()

    return "\n".join([render(header), rule, *(render(line) for line in lines)])


def write_json(path: Path, rows: list[Row], details: dict[str, Any]) -> None:
    """Save the rows and the run's details (options, versions, every timing)."""
    document = {**details, "rows": [row.as_dict() for row in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n")
