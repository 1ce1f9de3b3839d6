"""The columnar remote-write reader (promql.wire) against the protobuf library: the same
series, labels, timestamps and value bits for whatever encoding of a WriteRequest, the
common one (read in bulk) and odd ones (omitted fields, fields in another order, unknown
fields, overlong and 10-byte varints, NaN payloads, labels after samples)."""

from __future__ import annotations

import struct

import cramjam
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promql import RemoteWriteError, wire
from promql.proto import remote_pb2
from promql.remote_write import _scan_with_library, decode_write_request
from promql.wire import COMPILED, Fallback, Scanned, scan_write_request

U64 = st.integers(0, (1 << 64) - 1)
TIMESTAMPS = st.one_of(
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.integers(0, 127),  # 1-byte varints
    st.integers(-(1 << 63), -1),  # 10-byte varints
    st.integers(1_600_000_000_000, 1_800_000_000_000),  # the common 6-byte ones
)
VALUES = st.one_of(
    U64.map(lambda bits: struct.unpack("<d", struct.pack("<Q", bits))[0]),  # any bit pattern
    st.sampled_from([0.0, -0.0, 1.0, float("inf"), float("-inf")]),
    st.floats(allow_nan=False),
    st.just(struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]),  # StaleNaN
)
WALKERS = [pytest.param(False, id="python")]
if COMPILED:
    WALKERS.insert(0, pytest.param(True, id="compiled"))
NAMES = st.one_of(st.sampled_from([b"__name__", b"job", b"le", b""]), st.binary(max_size=200))


def _bits(v: np.ndarray) -> list[int]:
    return np.asarray(v, dtype=np.float64).view(np.int64).tolist()


def _same(a: Scanned, b: Scanned) -> None:
    assert a.labels == b.labels
    assert a.offsets.tolist() == b.offsets.tolist()
    assert a.t.dtype == np.int64 and a.v.dtype == np.float64
    assert a.t.tolist() == b.t.tolist()
    assert _bits(a.v) == _bits(b.v)
    assert (a.exemplars, a.histograms, a.metadata) == (b.exemplars, b.histograms, b.metadata)


@st.composite
def requests(draw: st.DrawFn) -> remote_pb2.WriteRequest:
    request = remote_pb2.WriteRequest()
    for _ in range(draw(st.integers(0, 5))):
        ts = request.timeseries.add()
        for name, value in draw(st.lists(st.tuples(NAMES, st.binary(max_size=150)), max_size=4)):
            ts.labels.add(name=name, value=value)
        run = draw(st.integers(0, 60))
        base = draw(TIMESTAMPS)
        if draw(st.booleans()):  # a regular series: one layout throughout, as Prometheus
            step = draw(st.integers(1, 60_000))
            for k in range(run):
                t = max(min(base + k * step, (1 << 63) - 1), -(1 << 63))
                ts.samples.add(value=draw(VALUES), timestamp=t)
        else:
            for t, v in draw(st.lists(st.tuples(TIMESTAMPS, VALUES), max_size=run)):
                ts.samples.add(value=v, timestamp=t)
        for _ in range(draw(st.integers(0, 1))):
            ts.exemplars.append(draw(st.binary(max_size=10)))
        for _ in range(draw(st.integers(0, 1))):
            ts.histograms.append(draw(st.binary(max_size=10)))
    for _ in range(draw(st.integers(0, 1))):
        request.metadata.append(draw(st.binary(max_size=10)))
    return request


@pytest.mark.parametrize("compiled", WALKERS)
@settings(max_examples=300, deadline=None)
@given(request=requests())
def test_library_encodings_read_in_bulk_exactly(
    request: remote_pb2.WriteRequest, compiled: bool
) -> None:
    raw = request.SerializeToString()
    _same(
        scan_write_request(raw, compiled=compiled), _scan_with_library(raw)
    )  # no Fallback: structure is usual


# -- hand-made encodings --------------------------------------------------------------------


def _varint(n: int, pad: int = 0) -> bytes:
    """The varint of ``n`` (as uint64), overlong by up to ``pad`` zero groups (at most 10
    bytes in all)."""
    n &= (1 << 64) - 1
    groups = []
    while True:
        groups.append(n & 0x7F)
        n >>= 7
        if not n:
            break
    groups.extend([0] * min(pad, 10 - len(groups)))
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


def _field(number: int, wire: int, payload: bytes) -> bytes:
    head = _varint(number << 3 | wire)
    if wire == 2:
        return head + _varint(len(payload)) + payload
    return head + payload


UNKNOWN = st.one_of(
    st.tuples(st.integers(5, 1000), st.just(0), U64.map(_varint)),
    st.tuples(st.integers(5, 1000), st.just(1), st.binary(min_size=8, max_size=8)),
    st.tuples(st.integers(5, 1000), st.just(2), st.binary(max_size=20)),
    st.tuples(st.integers(5, 1000), st.just(5), st.binary(min_size=4, max_size=4)),
).map(lambda f: _field(*f))


@st.composite
def samples(draw: st.DrawFn) -> bytes:
    t, v = draw(TIMESTAMPS), draw(VALUES)
    value = _field(1, 1, struct.pack("<d", v))
    stamp = _field(2, 0, _varint(t, pad=draw(st.integers(0, 3))))
    parts = []
    if v != 0 or struct.pack("<d", v) != bytes(8) or draw(st.booleans()):
        parts.append(value)
    if t != 0 or draw(st.booleans()):
        parts.append(stamp)
    if draw(st.booleans()):
        parts.reverse()
    if draw(st.integers(0, 5)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), draw(UNKNOWN))
    if draw(st.integers(0, 8)) == 0:  # the same field twice: the last one counts
        parts.insert(0, _field(2, 0, _varint(draw(TIMESTAMPS))))
    return _field(2, 2, b"".join(parts))


@st.composite
def odd_series(draw: st.DrawFn) -> bytes:
    labels = [
        _field(1, 2, _field(1, 2, n) + _field(2, 2, v))
        for n, v in draw(st.lists(st.tuples(NAMES, st.binary(max_size=20)), max_size=3))
    ]
    regular = draw(st.integers(0, 40))
    base = draw(st.integers(1_600_000_000_000, 1_700_000_000_000))
    body = [
        _field(2, 2, _field(1, 1, struct.pack("<d", v)) + _field(2, 0, _varint(base + k)))
        for k, v in enumerate(draw(st.lists(VALUES, min_size=regular, max_size=regular)))
    ]
    for _ in range(draw(st.integers(0, 6))):
        body.insert(draw(st.integers(0, len(body))), draw(samples()))
    if draw(st.booleans()) and labels:  # a label after the samples
        body.append(labels.pop())
    if draw(st.integers(0, 4)) == 0:
        body.insert(draw(st.integers(0, len(body))), draw(UNKNOWN))
    if draw(st.integers(0, 4)) == 0:
        body.append(_field(3, 2, draw(st.binary(max_size=5))))
    return b"".join(labels + body)


@st.composite
def odd_requests(draw: st.DrawFn) -> bytes:
    parts = [_field(1, 2, draw(odd_series())) for _ in range(draw(st.integers(0, 4)))]
    if draw(st.integers(0, 4)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), draw(UNKNOWN))
    if draw(st.integers(0, 4)) == 0:
        parts.append(_field(3, 2, b"\x08\x01"))
    return b"".join(parts)


def _decoded(raw: bytes, scan: object) -> object:
    try:
        return scan(raw)  # type: ignore[operator]
    except RemoteWriteError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("compiled", WALKERS)
@settings(max_examples=400, deadline=None)
@given(raw=odd_requests())
def test_odd_encodings_match_the_library(raw: bytes, compiled: bool) -> None:
    expected = _scan_with_library(raw)
    try:
        got = scan_write_request(raw, compiled=compiled)
    except Fallback:
        return  # the caller decodes it with the library
    _same(got, expected)


@pytest.mark.parametrize("compiled", WALKERS)
@settings(max_examples=300, deadline=None)
@given(raw=odd_requests(), data=st.data())
def test_damaged_bodies_give_the_librarys_answer(
    raw: bytes, data: st.DataObject, compiled: bool
) -> None:
    if raw:
        cut = data.draw(st.integers(0, len(raw) - 1))
        flip = data.draw(st.integers(0, 255))
        raw = raw[:cut] + bytes([raw[cut] ^ flip]) + raw[cut + 1 :]
        if data.draw(st.booleans()):
            raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        expected: object = _scan_with_library(raw)
    except RemoteWriteError as exc:
        expected = ("error", str(exc))
    try:
        got: object = scan_write_request(raw, compiled=compiled)
    except Fallback:
        return
    assert not isinstance(expected, tuple), f"the library refuses it: {expected}"
    _same(got, expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("compiled", WALKERS)
def test_common_layouts_are_read_without_the_library(compiled: bool) -> None:
    request = remote_pb2.WriteRequest()
    for i in range(3):
        ts = request.timeseries.add()
        ts.labels.add(name=b"__name__", value=b"x")
        ts.labels.add(name=b"i", value=str(i).encode())
        ts.samples.add(value=0.0, timestamp=1_700_000_000_000)  # value omitted
        for k in range(1, 100):
            ts.samples.add(value=float(k), timestamp=1_700_000_000_000 + 15_000 * k)
    raw = request.SerializeToString()
    scanned = scan_write_request(raw, compiled=compiled)
    _same(scanned, _scan_with_library(raw))
    assert scanned.offsets.tolist() == [0, 100, 200, 300]
    if compiled:  # read in C, not handed on to the Python walker
        assert wire._speedups.write_request(raw) is not None


@pytest.mark.parametrize("compiled", WALKERS)
@pytest.mark.parametrize("ts", [0, 1, 127, 128, -1, -(1 << 63), (1 << 63) - 1])
def test_varint_extremes(ts: int, compiled: bool) -> None:
    request = remote_pb2.WriteRequest()
    series = request.timeseries.add()
    series.labels.add(name=b"__name__", value=b"x")
    for _ in range(40):
        series.samples.add(value=float("nan"), timestamp=ts)
    raw = request.SerializeToString()
    _same(scan_write_request(raw, compiled=compiled), _scan_with_library(raw))


def test_decode_write_request_uses_the_same_checks() -> None:
    request = remote_pb2.WriteRequest()
    series = request.timeseries.add()
    series.labels.add(name=b"job", value=b"x")
    series.samples.add(value=1.0, timestamp=1)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    with pytest.raises(RemoteWriteError, match="no __name__"):
        decode_write_request(body)
