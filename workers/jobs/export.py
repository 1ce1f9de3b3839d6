"""``export``: a range of one or many series as CSV or Parquet files.

Points are read in pages of :data:`PAGE` samples (or buckets) and written as they come, and
the output is cut into files of at most ``part_samples`` rows, each saved as soon as it is
full: a 50 M-point export holds one page and one file in memory, never the whole range.
Files are kept in Redis with the job's result, so exports are capped by ``max_samples``.

The CSV is the long form ``key,t,v`` that ``POST /v1/points`` reads back, with ``t`` in epoch
milliseconds and ``v`` written exactly (shortest round-trip form). The Parquet files have the
columns ``key`` (string), ``t`` (timestamp, ms, UTC) and ``v`` (float64), one row group per
page, zstd-compressed.
"""

from __future__ import annotations

import gzip
import io
import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import Field, model_validator

from core.fields import DurationIn
from tsdb.errors import InvalidInput
from tsdb.models import Aggregation
from tsdb.paging import count_samples, data_bounds
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import parse_duration
from workers.errors import JobNotPossible
from workers.jobs.common import Selection, iter_pages, prepare_selection
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "PAGE", "ExportParams"]

PAGE = 100_000
"""Samples (or buckets) read per TS.RANGE call."""

HEADER = b"key,t,v\n"
SCHEMA = pa.schema([("key", pa.string()), ("t", pa.timestamp("ms", tz="UTC")), ("v", pa.float64())])
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "csv.gz": "application/gzip",
    "parquet": "application/vnd.apache.parquet",
}


class ExportParams(Selection):
    """Which series and range, raw or per bucket, in which format."""

    format: Literal["csv", "parquet"] = "csv"
    compress: bool = Field(False, description="gzip the CSV (export.csv.gz); Parquet is zstd")
    agg: Aggregation | None = Field(None, description="Export buckets of this aggregator")
    bucket: DurationIn | None = Field(None, description="Bucket width, with agg")
    max_samples: int = Field(
        10_000_000, ge=1, le=100_000_000, description="Refuse exports of more rows than this"
    )
    part_samples: int = Field(
        1_000_000, ge=1_000, le=10_000_000, description="Rows per file; more rows, more files"
    )

    @model_validator(mode="after")
    def _agg_with_bucket(self) -> ExportParams:
        if (self.agg is None) != (self.bucket is None):
            raise ValueError("give agg and bucket together, or neither")
        return self


async def _planned_rows(store: TimeSeriesStore, params: ExportParams) -> dict[str, int]:
    """Rows each series will give: exact for raw points, an upper bound for buckets."""
    keys = list(params.keys or [])
    rows: dict[str, int] = {}
    for key in keys:
        bounds = await data_bounds(store, [key], params.from_ms, params.to_ms)
        if bounds is None:
            rows[key] = 0
            continue
        count = await count_samples(store, key, *bounds)
        if params.bucket is not None and count:
            count = min(count, math.ceil((bounds[1] - bounds[0] + 1) / int(params.bucket)) + 1)
        rows[key] = count
    return rows


async def prepare(params: ExportParams, store: TimeSeriesStore) -> ExportParams:
    resolved = await prepare_selection(params, store)
    bucket = None if params.bucket is None else parse_duration(params.bucket, "bucket")
    prepared = params.model_copy(update={**resolved, "bucket": bucket})
    total = sum((await _planned_rows(store, prepared)).values())
    if total > prepared.max_samples:
        raise JobNotPossible(
            f"the export would hold {total} rows, more than max_samples "
            f"({prepared.max_samples}): narrow the range, export buckets, or raise max_samples"
        )
    return prepared


class _Part:
    """One output file being written."""

    def __init__(self, fmt: str, compress: bool) -> None:
        self.fmt = fmt
        self.buffer = io.BytesIO()
        self.rows = 0
        self._gzip: gzip.GzipFile | None = None
        self._parquet: pq.ParquetWriter | None = None
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(self.buffer, SCHEMA, compression="zstd")
        else:
            if compress:
                self._gzip = gzip.GzipFile(fileobj=self.buffer, mode="wb", compresslevel=6)
            self._write_text(HEADER)

    def _write_text(self, data: bytes) -> None:
        (self._gzip or self.buffer).write(data)

    def write(self, key: str, t: npt.NDArray[np.int64], v: npt.NDArray[np.float64]) -> None:
        table = pa.table(
            {
                "key": pa.repeat(key, len(t)).cast(pa.string()),
                "t": pa.array(t, type=pa.int64()).cast(SCHEMA.field("t").type),
                "v": pa.array(v, type=pa.float64()),
            },
            schema=SCHEMA,
        )
        if self._parquet is not None:
            self._parquet.write_table(table)
        else:
            out = io.BytesIO()
            csv_table = table.set_column(1, "t", pa.array(t, type=pa.int64()))
            pacsv.write_csv(
                csv_table, out, pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
            self._write_text(out.getvalue())
        self.rows += len(t)

    def close(self) -> bytes:
        if self._parquet is not None:
            self._parquet.close()
        if self._gzip is not None:
            self._gzip.close()
        return self.buffer.getvalue()


class _Writer:
    """Rows in, files out: a new file every ``part_samples`` rows."""

    def __init__(self, job: JobRun, params: ExportParams, planned: int) -> None:
        self.job = job
        self.fmt = params.format
        self.compress = params.compress and params.format == "csv"
        self.extension = "csv.gz" if self.compress else params.format
        self.part_samples = params.part_samples
        self.numbered = planned > params.part_samples
        self.part: _Part | None = None
        self.files: list[dict[str, Any]] = []

    def write(self, key: str, t: npt.NDArray[np.int64], v: npt.NDArray[np.float64]) -> None:
        done = 0
        while done < len(t):
            if self.part is None:
                self.part = _Part(self.fmt, self.compress)
            room = self.part_samples - self.part.rows if self.numbered else len(t) - done
            take = min(room, len(t) - done)
            self.part.write(key, t[done : done + take], v[done : done + take])
            done += take
            if self.numbered and self.part.rows >= self.part_samples:
                self.flush()

    def flush(self) -> None:
        if self.part is None:
            return
        part, self.part = self.part, None
        number = len(self.files) + 1
        name = (
            f"export-{number:04d}.{self.extension}" if self.numbered else f"export.{self.extension}"
        )
        data = part.close()
        self.job.save_file(name, data, CONTENT_TYPES[self.extension])
        self.files.append({"name": name, "rows": part.rows, "bytes": len(data)})

    def finish(self) -> None:
        if self.part is None and not self.files:
            self.part = _Part(self.fmt, self.compress)  # an empty export is still a file
        self.flush()


def run(params: ExportParams, job: JobRun) -> dict[str, Any]:
    """A range of series as CSV (key,t,v) or Parquet files, raw or per bucket."""
    store = job.store
    keys = list(params.keys or [])
    bucket = None if params.bucket is None else int(params.bucket)
    job.progress(2, "counting samples")
    planned = job.run(_planned_rows(store, params))
    total = sum(planned.values())
    if total > params.max_samples:
        raise InvalidInput(
            f"the export would hold {total} rows, more than max_samples ({params.max_samples})"
        )
    writer = _Writer(job, params, total)
    rows: dict[str, int] = {}
    written = 0
    for key in keys:
        rows[key] = 0
        bounds = job.run(data_bounds(store, [key], params.from_ms, params.to_ms))
        if bounds is None:
            continue
        # buckets on the epoch's grid, as the API's reads (and rollup tiers) have them
        pages = iter_pages(job, key, *bounds, agg=params.agg, bucket=bucket, align=0, page=PAGE)
        for t, v in pages:
            writer.write(key, t, v)
            rows[key] += len(t)
            written += len(t)
            job.progress(5 + int(90 * written / max(1, total)), f"{written} rows written")
    writer.finish()
    job.progress(100, "done")
    return {
        "format": params.format,
        "compression": "gzip"
        if writer.compress
        else ("zstd" if params.format == "parquet" else None),
        "columns": ["key", "t", "v"],
        "rows": written,
        "series": [{"key": k, "rows": n} for k, n in rows.items()],
        "aggregation": params.agg,
        "bucket_ms": bucket,
        "from": params.from_ms,
        "to": params.to_ms,
        "files": writer.files,
    }


JOB_TYPE = JobType.of("export", ExportParams, prepare, run)
