"""The result table: rows built from the timings, printed and saved as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.aggregate import RangeTimes
from bench.ingest import IngestTimes
from bench.stats import median

__all__ = ["RANGE_TARGET", "Row", "format_table", "ingest_row", "range_row", "write_json"]

RANGE_TARGET = 1.5
"""The API may take at most this many times as long as TS.RANGE itself."""


@dataclass(frozen=True)
class Row:
    """One line of the table: the same work through the API and against Redis directly."""

    work: str
    unit: str
    api: float
    raw: float
    ratio: float
    """``api / raw`` of the figures shown."""
    higher_is_better: bool
    target: float | None = None
    """Bound on ``ratio`` (a maximum when lower is better, else a minimum); None if unset."""

    @property
    def met(self) -> bool | None:
        """Whether the ratio is within the target (None without a target)."""
        if self.target is None:
            return None
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

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


def _figure(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.0f} {unit}"


def _target(row: Row) -> str:
    if row.target is None:
        return "-"
    sign = ">=" if row.higher_is_better else "<="
    return f"{sign} {row.target:g} ({'met' if row.met else 'MISSED'})"


def format_table(rows: list[Row]) -> str:
    """The rows as an aligned plain-text table."""
    header = ("work", "API", "raw Redis", "API/raw", "target")
    lines = [
        (r.work, _figure(r.api, r.unit), _figure(r.raw, r.unit), f"{r.ratio:.2f}", _target(r))
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
