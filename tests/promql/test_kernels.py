"""rate, increase and delta in C (promql._kernels) against the numpy kernel: the same values,
bit for bit, at every step (those without output included), for counters with resets, +Inf
and NaN samples, gaps, and windows of every size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promql.range_functions import WindowArgs, _extrapolated_compiled, _extrapolated_numpy

VALUES = st.one_of(
    st.floats(-1e6, 1e6),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e300, 5e-324]),
)


@st.composite
def windows(draw: st.DrawFn) -> WindowArgs:
    if draw(st.booleans()):  # scrapes: a regular interval with some jitter
        interval = draw(st.integers(1_000, 60_000))
        jitter = st.integers(-interval // 5, interval // 5)
        gaps = [interval + draw(jitter) for _ in range(draw(st.integers(1, 60)))]
    else:
        gaps = draw(st.lists(st.integers(1, 120_000), min_size=1, max_size=60))
    t = 1_700_000_000_000 + np.cumsum(np.array(gaps, dtype=np.int64))
    if draw(st.booleans()):  # a counter: increments, with resets to a lower value
        steps = draw(st.lists(st.floats(0, 100), min_size=len(t), max_size=len(t)))
        v = np.cumsum(np.array(steps))
        for at in draw(st.lists(st.integers(0, len(t) - 1), max_size=4)):
            v[at:] -= v[at] * draw(st.floats(0, 1))
    else:
        v = np.array(draw(st.lists(VALUES, min_size=len(t), max_size=len(t))))
    range_ms = draw(st.integers(1, 900_000))
    start = int(t[0]) - draw(st.integers(0, 600_000))
    step = draw(st.integers(1, 120_000))
    refs = start + step * np.arange(draw(st.integers(1, 80)), dtype=np.int64)
    lo = np.searchsorted(t, refs - range_ms, "left")
    hi = np.searchsorted(t, refs, "right")
    return WindowArgs(t, v, lo, hi, refs, range_ms, refs, None)


def _bits(a: np.ndarray) -> list[object]:
    return ["nan" if math.isnan(x) else x.hex() for x in a.tolist()]


@pytest.mark.parametrize("counter, rate", [(True, True), (True, False), (False, False)])
@settings(max_examples=300, deadline=None)
@given(w=windows())
def test_the_compiled_kernel_gives_the_numpy_kernels_bits(
    counter: bool, rate: bool, w: WindowArgs
) -> None:
    with np.errstate(all="ignore"):
        want_v, want_p = _extrapolated_numpy(w, counter, rate)
    got_v, got_p = _extrapolated_compiled(w, counter, rate)
    assert got_p.tolist() == want_p.tolist()
    assert _bits(got_v) == _bits(np.asarray(want_v, dtype=np.float64))
