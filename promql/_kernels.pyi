"""Types of the compiled module built from ``promql/_kernels.c``."""

from typing import Any

# numpy arrays (C-contiguous int64 / float64 / bool) pass as buffers: typed Any, as numpy's
# stubs do not declare the buffer protocol
def extrapolated(
    t: Any,
    v: Any,
    lo: Any,
    hi: Any,
    refs: Any,
    range_ms: int,
    counter: bool,
    rate: bool,
    values: Any,
    present: Any,
) -> None: ...
