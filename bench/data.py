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
    "Samples",
    "make_samples",
    "points_json",
    "resp_command",
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
