"""Bulk writes as calls: batches cut into requests, arrays and DataFrames, files in pieces,
and DataFrames out of reads."""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tsapi_client._base import JSON, Call, dumps, parse_json, to_time
from tsapi_client.errors import ApiError, MissingDependency, api_error
from tsapi_client.models import BulkResult, IngestSummary, Point

if TYPE_CHECKING:
    import pandas as pd

MAX_POINTS_PER_REQUEST = 250_000
"""Points per bulk request when a large batch is split (about 8 MiB of JSON)."""
FILE_CHUNK_BYTES = 4 << 20
"""Bytes of a CSV or line-protocol file sent per request."""
REJECTIONS_KEPT = 1000
_FORMAT_TYPES = {"csv": "text/csv", "lp": "text/plain; charset=utf-8", "json": JSON}
_FORMAT_SUFFIXES = {
    ".csv": "csv",
    ".lp": "lp",
    ".line": "lp",
    ".influx": "lp",
    ".txt": "lp",
    ".json": "json",
}


# -- bulk writes -------------------------------------------------------------------------------


def _bulk_params(
    create: bool, labels: Mapping[str, str] | None, atomic: bool, precision: str | None = None
) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    if create:
        params.append(("create", "true"))
    if atomic:
        params.append(("atomic", "true"))
    params += [("label", f"{k}={v}") for k, v in (labels or {}).items()]
    if precision is not None:
        params.append(("precision", precision))
    return params


def bulk_json(body: Any, params: list[tuple[str, str]]) -> Call[BulkResult]:
    return Call(
        "POST",
        "/v1/points",
        lambda r: BulkResult.from_json(parse_json(r)),
        params,
        dumps(body),
        JSON,
    )


@dataclass(frozen=True)
class BulkPlan:
    """A bulk write cut into requests; ``offsets[i]`` is the index of request i's first point."""

    calls: list[Call[BulkResult]]
    offsets: list[int]
    keys: int


def plan_rows(
    rows: Iterable[Any],
    create: bool,
    labels: Mapping[str, str] | None,
    atomic: bool,
    max_points: int = MAX_POINTS_PER_REQUEST,
) -> BulkPlan:
    """``(key, t, v)`` tuples or ``{"key", "t", "v"}`` dicts as requests of JSON rows."""
    items: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, Mapping):
            items.append({"key": row["key"], "t": to_time(row["t"]), "v": row["v"]})
        else:
            key, t, v = row
            items.append({"key": key, "t": to_time(t), "v": v})
    if not items:
        raise ValueError("no points to write")
    params = _bulk_params(create, labels, atomic)
    size = len(items) if atomic else max_points
    starts = list(range(0, len(items), size))
    return BulkPlan(
        [bulk_json(items[i : i + size], params) for i in starts],
        starts,
        len({item["key"] for item in items}),
    )


@dataclass
class Columns:
    """The points of one series as arrays (epoch ms, float)."""

    key: str
    t: Any
    v: Any


def time_array(values: Any) -> Any:
    """Times as an int64 numpy array of epoch ms (datetime64 and datetimes converted)."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind == "M":
        return array.astype("datetime64[ms]").astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "f" and bool(np.all(array == np.floor(array))):
        return array.astype(np.int64)
    return np.array([to_time(t) for t in array.tolist()], dtype=object)


def value_array(values: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def plan_columns(
    columns: Sequence[Columns],
    create: bool,
    labels: Mapping[str, str] | None,
    atomic: bool,
    max_points: int = MAX_POINTS_PER_REQUEST,
) -> BulkPlan:
    """Columnar JSON bodies (``{"key", "t": [...], "v": [...]}``), several series per request."""
    params = _bulk_params(create, labels, atomic)
    limit = math.inf if atomic else max_points
    calls: list[Call[BulkResult]] = []
    offsets: list[int] = []
    body: list[dict[str, Any]] = []
    in_body = 0
    done = 0
    for column in columns:
        if len(column.t) != len(column.v):
            raise ValueError(f"{column.key}: {len(column.t)} times but {len(column.v)} values")
        start = 0
        while start < len(column.t):
            take = int(min(len(column.t) - start, limit - in_body))
            t = column.t[start : start + take]
            body.append({"key": column.key, "t": _listable(t), "v": column.v[start : start + take]})
            in_body += take
            start += take
            if in_body >= limit:
                calls.append(bulk_json(body, params))
                offsets.append(done)
                done += in_body
                body, in_body = [], 0
    if body:
        calls.append(bulk_json(body, params))
        offsets.append(done)
    if not calls:
        raise ValueError("no points to write")
    return BulkPlan(calls, offsets, len({c.key for c in columns if len(c.t)}))


def _listable(array: Any) -> Any:
    return array.tolist() if array.dtype == object else array


def frame_columns(frame: pd.DataFrame) -> list[Columns]:
    """A DataFrame as series: long (``key``, ``t``, ``v`` columns) or wide (time index, a
    column per series key, empty cells skipped)."""
    import numpy as np

    if {"key", "t", "v"} <= set(map(str, frame.columns)):
        out = []
        for key, group in frame.groupby("key", sort=False):
            out.append(Columns(str(key), time_array(group["t"]), value_array(group["v"])))
        return out
    index = frame.index
    if getattr(index, "tz", None) is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    times = time_array(np.asarray(index))
    columns = []
    for name in frame.columns:
        values = value_array(frame[name])
        present = ~np.isnan(values)
        columns.append(Columns(str(name), times[present], values[present]))
    return columns


def merge_bulk(results: Sequence[BulkResult], keys: int, offsets: Sequence[int]) -> BulkResult:
    """One result for a bulk write sent in several requests (``offsets``: the index of each
    request's first point in the whole write)."""
    if len(results) == 1:
        return results[0]
    return BulkResult(
        written=sum(r.written for r in results),
        series=keys,
        created=sum(r.created for r in results),
        ignored=sum(r.ignored for r in results),
        ignored_points=[
            {**p, "index": p["index"] + offset} if "index" in p else p
            for r, offset in zip(results, offsets, strict=True)
            for p in r.ignored_points
        ],
    )


def shifted(exc: ApiError, offset: int, written_before: int) -> ApiError:
    """The error of one request of a split bulk write, counted over the whole write."""
    if not offset and not written_before:
        return exc
    problem = dict(exc.problem)
    problem["rejected"] = [
        {**r, "index": r["index"] + offset} if "index" in r else r for r in exc.rejected
    ]
    if exc.written is not None:
        problem["written"] = exc.written + written_before
    return api_error(exc.status, problem)


# -- files -------------------------------------------------------------------------------------


def file_format(path: str | Path, given: str | None) -> str:
    """``csv``, ``lp`` (InfluxDB line protocol) or ``json``: given, or from the file's suffix."""
    if given:
        fmt = {"line": "lp", "line-protocol": "lp", "influx": "lp"}.get(given, given)
        if fmt not in _FORMAT_TYPES:
            raise ValueError(f"unknown format {given!r}: use csv, lp or json")
        return fmt
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _FORMAT_SUFFIXES:
        return _FORMAT_SUFFIXES[suffixes[-1]]
    raise ValueError(f"cannot tell the format of {path} from its name: give it (csv, lp or json)")


@dataclass(frozen=True)
class FileChunk:
    """One request's worth of a file: a body, how its line numbers map to the file's, and how
    far into the file (in bytes as stored) it reaches."""

    call: Call[BulkResult]
    line_shift: int | None
    position: int


def file_chunks(
    path: str | os.PathLike[str],
    fmt: str,
    create: bool,
    labels: Mapping[str, str] | None,
    atomic: bool,
    precision: str | None,
    chunk_bytes: int = FILE_CHUNK_BYTES,
) -> Iterator[FileChunk]:
    """A CSV or line-protocol file cut at line ends (CSV repeats its header); JSON whole."""
    params = _bulk_params(create, labels, atomic, precision if fmt == "lp" else None)
    content_type = _FORMAT_TYPES[fmt]

    def call(body: bytes) -> Call[BulkResult]:
        return Call(
            "POST",
            "/v1/points",
            lambda r: BulkResult.from_json(parse_json(r)),
            params,
            body,
            content_type,
        )

    with open(path, "rb") as raw:
        stream: IO[bytes] | gzip.GzipFile = (
            gzip.GzipFile(fileobj=raw) if str(path).endswith(".gz") else raw
        )
        if fmt == "json" or atomic:
            yield FileChunk(call(stream.read()), None if fmt == "json" else 0, raw.tell())
            return
        header = b""
        line = 1
        if fmt == "csv":
            header = stream.readline()
            line = 2
        while True:
            lines = stream.readlines(chunk_bytes)
            if not lines:
                return
            body = header + b"".join(lines)
            if lines[-1] and not lines[-1].endswith(b"\n"):
                body += b"\n"
            shift = line - 2 if fmt == "csv" else line - 1
            yield FileChunk(call(body), shift, raw.tell())
            line += len(lines)


class IngestTally:
    """Adds up the answers to the requests of one file."""

    def __init__(self) -> None:
        self.written = self.created = self.rejected_count = self.requests = 0
        self.rejected: list[dict[str, Any]] = []

    def add(self, result: BulkResult) -> None:
        self.requests += 1
        self.written += result.written
        self.created += result.created

    def add_rejected(self, exc: ApiError, line_shift: int | None) -> None:
        """Count a partial write; errors that are not about single points are raised."""
        if "rejected" not in exc.problem:
            raise exc
        self.requests += 1
        self.written += exc.written or 0
        self.created += int(exc.problem.get("created") or 0)
        self.rejected_count += int(exc.problem.get("rejected_count") or len(exc.rejected))
        room = REJECTIONS_KEPT - len(self.rejected)
        for item in exc.rejected[: max(room, 0)]:
            if line_shift is not None and "line" in item:
                item = {**item, "line": item["line"] + line_shift}
            self.rejected.append(item)

    def summary(self, size: int) -> IngestSummary:
        return IngestSummary(
            written=self.written,
            created=self.created,
            rejected_count=self.rejected_count,
            rejected=self.rejected,
            requests=self.requests,
            bytes=size,
        )


# -- frames ------------------------------------------------------------------------------------


def require_pandas(purpose: str) -> Any:
    try:
        import pandas
    except ImportError:
        raise MissingDependency("pandas", purpose) from None
    return pandas


def points_frame(series: Mapping[str, list[Point]]) -> pd.DataFrame:
    """Points as a wide DataFrame: a UTC time index ``t`` and one float column per key."""
    pd = require_pandas("a DataFrame result")
    columns = []
    for key, points in series.items():
        index = pd.to_datetime([t for t, _ in points], unit="ms", utc=True)
        values = [float("nan") if v is None else v for _, v in points]
        columns.append(pd.Series(values, index=index, name=key, dtype="float64"))
    if not columns:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="t"))
    frame = pd.concat(columns, axis=1).sort_index()
    frame.index.name = "t"
    return frame
