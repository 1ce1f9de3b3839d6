"""Types of the compiled module built from ``tsdb/_speedups.c``."""

from collections.abc import Sequence
from typing import Any

from _typeshed import ReadableBuffer

# numpy arrays (C-contiguous int64 / float64) pass as buffers: typed Any, as numpy's stubs
# do not declare the buffer protocol

def mrange_add(
    raw: ReadableBuffer, end: int, series: dict[str, list[Any]], labels: bool, expect: float
) -> None: ...
def madd_args(
    keys: Sequence[str],
    codes: Any,
    ts: Any,
    vs: Any,
    start: int,
    end: int,
    offsets: Any,
) -> bytes: ...
