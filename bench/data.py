"""Benchmark data: reproducible samples, as an API JSON body or as RESP TS.MADD commands."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson

__all__ = [
    "START_MS",
    "STEP_MS",
    "Grid",
    "Samples",
    "csv_long",
    "csv_wide",
    "json_columnar",
    "json_rows",
    "json_series",
    "line_protocol",
    "line_protocol_tags",
    "make_samples",
    "points_json",
    "resp_command",
    "write_grid_file",
    "write_madd_file",
]

START_MS = 1_700_000_000_000
"""Timestamp of the first sample (2023-11-14T22:13:20Z)."""
STEP_MS = 1_000
"""One sample per second."""


@dataclass(frozen=True)
class Samples:
    """Increasing timestamps (epoch ms) and their values."""

    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def span_ms(self) -> int:
        """Milliseconds from the first to the last sample."""
        return int(self.timestamps[-1] - self.timestamps[0]) if len(self) else 0

    def chunks(self, size: int) -> Iterator[tuple[list[int], list[float]]]:
        """The samples as Python lists, ``size`` at a time."""
        for start in range(0, len(self), size):
            stop = start + size
            yield self.timestamps[start:stop].tolist(), self.values[start:stop].tolist()


def make_samples(count: int, seed: int = 20240131) -> Samples:
    """``count`` samples one second apart: a random walk with millidegree resolution."""
    rng = np.random.default_rng(seed)
    timestamps = START_MS + STEP_MS * np.arange(count, dtype=np.int64)
    values = np.round(20.0 + np.cumsum(rng.normal(0.0, 0.25, count)), 3)
    return Samples(timestamps, values)


def points_json(samples: Samples) -> bytes:
    """The body of ``POST /v1/series/{key}/points``: ``[{"t": ..., "v": ...}, ...]``."""
    ts, vs = samples.timestamps.tolist(), samples.values.tolist()
    return orjson.dumps([{"t": t, "v": v} for t, v in zip(ts, vs, strict=True)])


def resp_command(args: Sequence[bytes]) -> bytes:
    """One command in the Redis protocol (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    parts.extend(b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in args)
    return b"".join(parts)


def madd_commands(key: str, samples: Samples, per_command: int) -> Iterator[bytes]:
    """``TS.MADD key t v key t v ...`` commands of ``per_command`` samples each, RESP-encoded."""
    name = key.encode()
    for ts, vs in samples.chunks(per_command):
        args = [b"TS.MADD"]
        for t, v in zip(ts, vs, strict=True):
            args += (name, b"%d" % t, repr(v).encode())
        yield resp_command(args)


def write_madd_file(path: Path, key: str, samples: Samples, per_command: int = 1_000) -> int:
    """Write the TS.MADD commands for ``redis-cli --pipe`` to ``path``; return how many."""
    count = 0
    with path.open("wb") as out:
        for command in madd_commands(key, samples, per_command):
            out.write(command)
            count += 1
    return count


@dataclass(frozen=True)
class Grid:
    """The same samples spread over ``len(keys)`` series that share their timestamps.

    Point ``i`` of the flat :class:`Samples` goes to series ``i % n`` at time row ``i // n``,
    so the points come "time-major" (every series at one time, then the next time), the
    order in which readings arrive from a fleet of sensors.
    """

    keys: tuple[str, ...]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    """Shape ``(len(timestamps), len(keys))``."""

    @classmethod
    def of(cls, samples: Samples, keys: Sequence[str]) -> Grid:
        """The first ``len(samples) // len(keys) * len(keys)`` samples, laid out on ``keys``."""
        rows = len(samples) // len(keys)
        values = samples.values[: rows * len(keys)].reshape(rows, len(keys))
        return cls(tuple(keys), samples.timestamps[:rows], values)

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def per_series(self) -> int:
        return len(self.timestamps)

    def rows(self) -> Iterator[tuple[str, int, float]]:
        """``(key, t, v)`` for every point, time-major."""
        keys = self.keys
        for t, row in zip(self.timestamps.tolist(), self.values.tolist(), strict=True):
            for key, v in zip(keys, row, strict=True):
                yield key, t, v


def json_rows(grid: Grid) -> bytes:
    """``[{"key": k, "t": t, "v": v}, ...]`` (time-major)."""
    return orjson.dumps([{"key": k, "t": t, "v": v} for k, t, v in grid.rows()])


def json_series(grid: Grid) -> bytes:
    """``{"<key>": [[t, v], ...], ...}``."""
    ts = grid.timestamps.tolist()
    return orjson.dumps(
        {
            key: [[t, v] for t, v in zip(ts, grid.values[:, i].tolist(), strict=True)]
            for i, key in enumerate(grid.keys)
        }
    )


def json_columnar(grid: Grid) -> bytes:
    """``[{"key": k, "t": [...], "v": [...]}, ...]``, one object per series."""
    ts = grid.timestamps.tolist()
    return orjson.dumps(
        [{"key": key, "t": ts, "v": grid.values[:, i].tolist()} for i, key in enumerate(grid.keys)]
    )


def csv_long(grid: Grid) -> bytes:
    """``key,t,v`` rows (time-major) under that header."""
    lines = [f"{k},{t},{v!r}\n" for k, t, v in grid.rows()]
    return ("key,t,v\n" + "".join(lines)).encode()


def csv_wide(grid: Grid) -> bytes:
    """``t,<key>,<key>,...``: one row per time, one column per series."""
    header = ",".join(["t", *grid.keys]) + "\n"
    lines = [
        f"{t}," + ",".join(map(repr, row)) + "\n"
        for t, row in zip(grid.timestamps.tolist(), grid.values.tolist(), strict=True)
    ]
    return (header + "".join(lines)).encode()


def line_protocol(measurement: str, tag: str, grid: Grid) -> bytes:
    """``<measurement>,<tag>=<key suffix> v=<v> <t>`` lines, time in ms (``precision=ms``).

    The tag value of series ``k`` is what :func:`line_protocol_tags` names it after.
    """
    tags = dict(zip(grid.keys, line_protocol_tags(len(grid.keys)), strict=True))
    lines = [f"{measurement},{tag}={tags[k]} v={v!r} {t}\n" for k, t, v in grid.rows()]
    return "".join(lines).encode()


def line_protocol_tags(count: int) -> list[str]:
    """The tag values of ``count`` line-protocol series: ``s00``, ``s01``, ..."""
    width = len(str(count - 1))
    return [f"s{i:0{width}d}" for i in range(count)]


def write_grid_file(path: Path, grid: Grid, per_command: int = 1_000) -> int:
    """``TS.CREATE`` each series, then ``TS.MADD`` the points (time-major, ``per_command`` a
    command), for ``redis-cli --pipe``; return how many commands."""
    count = 0
    with path.open("wb") as out:
        for key in grid.keys:
            out.write(resp_command([b"TS.CREATE", key.encode(), b"LABELS", b"bench", b"1"]))
            count += 1
        args = [b"TS.MADD"]
        for key, t, v in grid.rows():
            args += (key.encode(), b"%d" % t, repr(v).encode())
            if len(args) > 3 * per_command:
                out.write(resp_command(args))
                count += 1
                args = [b"TS.MADD"]
        if len(args) > 1:
            out.write(resp_command(args))
            count += 1
    return count
