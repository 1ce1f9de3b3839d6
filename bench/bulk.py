"""Bulk ingest rows: ``POST /v1/points`` in each format vs ``redis-cli --pipe`` of TS.MADD.

Every form carries the same points, spread over the same number of series (time-major:
every series at one time, then the next), and every run, API or raw, writes them into
series of its own that it creates: the API with ``create=true`` (line protocol always
creates), the raw side with ``TS.CREATE`` commands at the head of its RESP file. Both
timings therefore cover creating the series and appending every point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from api.ingest.lineproto import series_key
from bench.context import BenchContext
from bench.cpu import cpu_seconds, cpu_used
from bench.data import (
    Grid,
    Samples,
    csv_long,
    csv_wide,
    json_columnar,
    json_rows,
    json_series,
    line_protocol,
    line_protocol_tags,
    write_grid_file,
)
from bench.raw import pipe_file, settle, total_samples
from bench.stats import stopwatch

__all__ = ["FORMS", "BulkForm", "BulkTimes", "FormTimes", "run_bulk"]

MADD_SAMPLES = 1_000
"""Samples per TS.MADD command on the raw side."""
LP_TAG = "sensor"


@dataclass(frozen=True)
class BulkForm:
    """One body format of ``POST /v1/points``."""

    name: str
    content_type: str
    query: str
    body: Callable[[str, Grid], bytes]
    """The body for series ``grid.keys`` (``run`` names them; line protocol needs it)."""
    target: float
    """Least API/raw ratio of samples per second: 0.5 for CSV and columnar JSON, 0.3 for
    the forms with one JSON object or line per point (or pair per point)."""


FORMS = (
    BulkForm("JSON rows", "application/json", "create=true", lambda _, g: json_rows(g), 0.3),
    BulkForm("JSON by series", "application/json", "create=true", lambda _, g: json_series(g), 0.3),
    BulkForm(
        "JSON columnar", "application/json", "create=true", lambda _, g: json_columnar(g), 0.5
    ),
    BulkForm("CSV long", "text/csv", "create=true", lambda _, g: csv_long(g), 0.5),
    BulkForm("CSV wide", "text/csv", "create=true", lambda _, g: csv_wide(g), 0.5),
    BulkForm(
        "line protocol",
        "text/plain",
        "precision=ms",
        lambda run, g: line_protocol(_measurement(run), LP_TAG, g),
        0.3,
    ),
)
"""The forms, in table order."""


@dataclass
class FormTimes:
    """Seconds per run of one form, both ways, and what the API runs cost in CPU."""

    form: str
    body_bytes: int
    api: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    api_cpu: list[dict[str, float]] = field(default_factory=list)
    """CPU seconds used by ``redis``, ``api`` and ``bench`` during each API run."""


@dataclass
class BulkTimes:
    """Every bulk-ingest timing: ``points`` over ``series`` series per run."""

    points: int
    series: int
    forms: list[FormTimes] = field(default_factory=list)


def run_bulk(ctx: BenchContext, samples: Samples, series: int, runs: int) -> BulkTimes:
    """For each run and form: one API write and one raw load, alternating, after Redis settles."""
    template = Grid.of(samples, [f"s{i}" for i in range(series)])
    times = BulkTimes(points=len(template), series=series)
    by_form = {form.name: FormTimes(form.name, 0) for form in FORMS}
    times.forms = list(by_form.values())
    with httpx.Client(base_url=ctx.api_url, timeout=300.0) as http:
        for run in range(1, runs + 1):
            for index, form in enumerate(FORMS):
                slot = by_form[form.name]
                name = f"{run}-{index}"
                grid = _grid(template, form, name, f"bench:bulk:api:{name}")
                body = form.body(name, grid)
                slot.body_bytes = len(body)
                seconds, cpu = _api_run(ctx, http, form, grid, body)
                slot.api.append(seconds)
                slot.api_cpu.append(cpu)
                raw = _grid(template, form, f"raw-{name}", f"bench:bulk:raw:{name}")
                slot.raw.append(_raw_run(ctx, raw, f"bulk-{name}"))
    return times


def _measurement(run: str) -> str:
    return f"bench_lp_{run.replace('-', '_')}"


def _grid(template: Grid, form: BulkForm, run: str, prefix: str) -> Grid:
    """The template's points on fresh keys: ``<prefix>:s<i>``, or line protocol's own."""
    if form.content_type == "text/plain":
        tags = line_protocol_tags(len(template.keys))
        keys = [series_key(_measurement(run), "v", ((LP_TAG, tag),), None) for tag in tags]
    else:
        keys = [f"{prefix}:{name}" for name in template.keys]
    return Grid(tuple(keys), template.timestamps, template.values)


def _api_run(
    ctx: BenchContext, http: httpx.Client, form: BulkForm, grid: Grid, body: bytes
) -> tuple[float, dict[str, float]]:
    """Time ``POST /v1/points`` of ``body``; check every point arrived."""
    settle(ctx.admin)
    headers = {"content-type": form.content_type}
    before = cpu_seconds(ctx.admin, ctx.api_pid, [])
    with stopwatch() as watch:
        response = http.post(f"/v1/points?{form.query}", content=body, headers=headers)
    cpu = cpu_used(before, cpu_seconds(ctx.admin, ctx.api_pid, []))
    if response.status_code != 200:
        raise RuntimeError(f"{form.name}: {response.status_code} {response.text[:500]}")
    summary = response.json()
    expected = {"written": len(grid), "series": len(grid.keys), "created": len(grid.keys)}
    if summary != expected:
        raise RuntimeError(f"{form.name}: the API answered {summary}, expected {expected}")
    _check_counts(ctx, grid)
    return watch.seconds, cpu


def _raw_run(ctx: BenchContext, grid: Grid, name: str) -> float:
    """Time ``redis-cli --pipe`` of TS.CREATE + TS.MADD of the grid (file written before)."""
    path = ctx.workdir / f"{name}.resp"
    commands = write_grid_file(path, grid, MADD_SAMPLES)
    settle(ctx.admin)
    with stopwatch() as watch:
        replies = pipe_file(ctx.redis_cli, ctx.redis_port, path)
    path.unlink()
    if replies != commands:
        raise RuntimeError(f"redis-cli --pipe got {replies} replies to {commands} commands")
    _check_counts(ctx, grid)
    return watch.seconds


def _check_counts(ctx: BenchContext, grid: Grid) -> None:
    for key in grid.keys:
        stored = total_samples(ctx.admin, key)
        if stored != grid.per_series:
            raise RuntimeError(f"{key} holds {stored} samples, expected {grid.per_series}")
