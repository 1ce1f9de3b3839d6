"""A columnar reader of ``prometheus.WriteRequest`` protobuf bytes (remote write 1.0).

The protobuf library builds one Python object per sample, which is most of the time of a
remote-write request. Prometheus (and every client built on its ``prompb``) encodes each
``Sample`` (``double value = 1; int64 timestamp = 2``) the same way, field by field::

    0x12 <len> 0x09 <8 bytes of the double> 0x10 <varint timestamp>

so the samples of a series are a run of records of one length. Where the install built
:mod:`promql._wire` (C), a body in the canonical layout (each series' labels, then its
samples; only the fields Prometheus writes) is walked there in one pass, and only each
series' label records are read here (once per process: a sender repeats them). Otherwise,
and for any other layout, this module walks the message structure in Python (per series
and per label: a few per body thousand samples), and reads each run of same-layout samples
with numpy: the run's bytes become a 2-D array of one row per record, every row is checked
against the layout (tags, lengths, varint continuation bits) and the values and timestamps
are taken from its columns.

Anything else is handled exactly as the protobuf library would: a sample record of
another layout (a zero value or a zero timestamp is omitted in proto3, fields in another
order, unknown fields) is parsed with ``remote_pb2.Sample``, a label record of an unusual
layout with ``remote_pb2.Label``, and anything the walker does not expect in the message
structure (groups, wrong wire types, truncation, invalid varints) makes it give up
(:class:`Fallback`): the caller then decodes the whole body with the protobuf library,
which also gives the error for bodies that are not a ``WriteRequest``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from promql.proto import remote_pb2

try:
    from promql import _wire as _speedups
except ImportError:  # built without a C compiler: the walker below reads every body
    _speedups = None  # type: ignore[assignment]

COMPILED = _speedups is not None
"""Whether canonical bodies are walked in C."""

__all__ = ["Fallback", "Scanned", "scan_write_request"]

_MAX_FIELD = (1 << 29) - 1
_HEADS: dict[bytes, list[tuple[bytes, bytes]]] = {}  # leading label records -> their pairs
_HEADS_KEPT = 1 << 16
_CHECK_FIRST = 32  # records checked before a run is assumed to go on (bounds rework)

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]


class Fallback(Exception):
    """The bytes are not what this reader handles: decode them with the protobuf library."""


@dataclass
class Scanned:
    """The raw structure: per series its label pairs (in order, as bytes) and samples."""

    labels: list[list[tuple[bytes, bytes]]]
    offsets: Int64Array
    t: Int64Array
    v: Float64Array
    exemplars: int = 0
    histograms: int = 0
    metadata: int = 0


def _varint(raw: bytes, p: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if p >= end or shift > 63:
            raise Fallback
        byte = raw[p]
        p += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, p
        shift += 7


def _skip(raw: bytes, p: int, end: int, wire: int) -> int:
    if wire == 0:
        return _varint(raw, p, end)[1]
    if wire == 1:
        p += 8
    elif wire == 2:
        length, p = _varint(raw, p, end)
        p += length
    elif wire == 5:
        p += 4
    else:  # groups (3, 4) and invalid wire types
        raise Fallback
    if p > end:
        raise Fallback
    return p


def _tag(raw: bytes, p: int, end: int) -> tuple[int, int, int]:
    tag, p = _varint(raw, p, end)
    number = tag >> 3
    if number == 0 or number > _MAX_FIELD:
        raise Fallback
    return number, tag & 7, p


def _layout(raw: bytes, q: int, end: int) -> tuple[int, int, int] | None:
    """The layout of the sample record whose tag (0x12) is at ``q``: ``(stride, value_at,
    varint_at)`` with ``value_at`` / ``varint_at`` 0 when the field is omitted; None when the
    record is not one of the common layouts."""
    if q + 2 > end:
        return None
    length = raw[q + 1]
    if length >= 0x80 or q + 2 + length > end:
        return None
    stride = length + 2
    if length >= 9 and raw[q + 2] == 0x09:
        if length == 9:
            return stride, 3, 0
        if 11 <= length <= 20 and raw[q + 11] == 0x10:
            return stride, 3, 12
        return None
    if 2 <= length <= 11 and raw[q + 2] == 0x10:
        return stride, 0, 3
    return None


def _decode_rows(
    rows: npt.NDArray[np.uint8], layout: tuple[int, int, int]
) -> tuple[npt.NDArray[np.bool_], Int64Array, Float64Array]:
    """Check every row (one record each) against ``layout``; decode value and timestamp."""
    stride, value_at, varint_at = layout
    n = len(rows)
    ok = (rows[:, 0] == 0x12) & (rows[:, 1] == stride - 2)
    if value_at:
        ok &= rows[:, 2] == 0x09
        v = np.ascontiguousarray(rows[:, 3:11]).view("<f8").reshape(n).astype(np.float64)
    else:
        v = np.zeros(n, dtype=np.float64)
    if varint_at:
        ok &= rows[:, varint_at - 1] == 0x10
        acc = np.zeros(n, dtype=np.uint64)
        for j, col in enumerate(range(varint_at, stride)):
            byte = rows[:, col]
            ok &= (byte < 0x80) if col == stride - 1 else (byte >= 0x80)
            acc |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * j)
        t = acc.view(np.int64)
    else:
        t = np.zeros(n, dtype=np.int64)
    return ok, t, v


def _one_sample(raw: bytes, q: int, end: int) -> tuple[int, float, int]:
    """The sample record whose tag is at ``q``, parsed by the protobuf library."""
    length, p = _varint(raw, q + 1, end)
    if p + length > end:
        raise Fallback
    try:
        sample = remote_pb2.Sample.FromString(raw[p : p + length])
    except DecodeError:
        raise Fallback from None
    return sample.timestamp, sample.value, p + length


def _label(raw: bytes, p: int, end: int) -> tuple[bytes, bytes]:
    """The label record in ``raw[p:end]``: ``0x0a len name 0x12 len value`` read directly,
    anything else by the protobuf library."""
    if end - p >= 2 and raw[p] == 0x0A and raw[p + 1] < 0x80:
        r = p + 2 + raw[p + 1]
        if r == end:
            return raw[p + 2 : r], b""
        if r + 2 <= end and raw[r] == 0x12 and raw[r + 1] < 0x80 and r + 2 + raw[r + 1] == end:
            return raw[p + 2 : r], raw[r + 2 : end]
    try:
        label = remote_pb2.Label.FromString(raw[p:end])
    except DecodeError:
        raise Fallback from None
    return label.name, label.value


class _Walker:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.buf = np.frombuffer(raw, dtype=np.uint8)
        self.labels: list[list[tuple[bytes, bytes]]] = []
        self.pieces: list[list[tuple[Int64Array, Float64Array]]] = []
        # optimistic runs: (series, tag position, end of the series, count, layout)
        self.claims: list[tuple[int, int, int, int, tuple[int, int, int]]] = []
        self.exemplars = self.histograms = self.metadata = 0

    def walk(self) -> None:
        raw, end, p = self.raw, len(self.raw), 0
        while p < end:
            if raw[p] == 0x0A:  # field 1, length-delimited: a series (the usual record)
                length, start = _varint(raw, p + 1, end)
                p = start + length
                if p > end:
                    raise Fallback
                self._series(start, p)
                continue
            number, wire, p = _tag(raw, p, end)
            if number in (1, 3):
                if wire != 2:
                    raise Fallback
                length, p = _varint(raw, p, end)
                stop = p + length
                if stop > end:
                    raise Fallback
                if number == 1:
                    self._series(p, stop)
                else:
                    self.metadata += 1
                p = stop
            else:
                p = _skip(raw, p, end, wire)
        self._settle_claims()

    def _series(self, p: int, end: int) -> None:
        index = len(self.labels)
        raw, q = self.raw, p
        while q + 1 < end and raw[q] == 0x0A and raw[q + 1] < 0x80:  # short label records
            q += 2 + raw[q + 1]
        if q > end:
            raise Fallback
        head = raw[p:q]  # the same bytes in every body of a sender: read once
        pairs = _HEADS.get(head)
        self.pieces.append([])
        if pairs is None:
            self.labels.append([])
            self._fields(index, p, q, optimistic=False)
            if len(_HEADS) >= _HEADS_KEPT:
                _HEADS.clear()
            _HEADS[head] = list(self.labels[index])
        else:
            self.labels.append(list(pairs))
        if q < end and raw[q] == 0x12:  # the usual case: the samples follow, all one layout
            layout = _layout(raw, q, end)
            if layout is not None and (end - q) % layout[0] == 0:
                self.claims.append((index, q, end, (end - q) // layout[0], layout))
                return
        self._fields(index, q, end, optimistic=True)

    def _fields(self, index: int, p: int, end: int, *, optimistic: bool) -> None:
        raw = self.raw
        labels, pieces = self.labels[index], self.pieces[index]
        while p < end:
            q = p
            number, wire, p = _tag(raw, p, end)
            if 1 <= number <= 4 and wire != 2:
                raise Fallback
            if number == 2:
                layout = _layout(raw, q, end)
                if layout is None:
                    t, v, p = _one_sample(raw, q, end)
                    pieces.append((np.array([t], np.int64), np.array([v], np.float64)))
                    continue
                stride = layout[0]
                if optimistic and (end - q) % stride == 0:
                    # the rest of the series is probably this run: checked in bulk later
                    self.claims.append((index, q, end, (end - q) // stride, layout))
                    return
                p = self._run(pieces, q, end, layout)
                continue
            if wire != 2:
                p = _skip(raw, p, end, wire)
                continue
            length, p = _varint(raw, p, end)
            stop = p + length
            if stop > end:
                raise Fallback
            if number == 1:
                labels.append(_label(raw, p, stop))
            elif number == 3:
                self.exemplars += 1
            elif number == 4:
                self.histograms += 1
            p = stop

    def _run(
        self,
        pieces: list[tuple[Int64Array, Float64Array]],
        q: int,
        end: int,
        layout: tuple[int, int, int],
    ) -> int:
        """Read the records of ``layout`` from ``q`` on (at least one); the next position."""
        stride = layout[0]
        available = (end - q) // stride
        taken = 0
        window = min(available, _CHECK_FIRST)
        while window:
            start = q + taken * stride
            rows = self.buf[start : start + window * stride].reshape(window, stride)
            ok, t, v = _decode_rows(rows, layout)
            good = window if bool(ok.all()) else int(np.argmin(ok))
            if good:
                pieces.append((t[:good], v[:good]))
                taken += good
            if good < window:
                break
            window = available - taken
        if taken == 0:  # cannot happen: _layout checked the first record
            t1, v1, after = _one_sample(self.raw, q, end)
            pieces.append((np.array([t1], np.int64), np.array([v1], np.float64)))
            return after
        return q + taken * stride

    def _settle_claims(self) -> None:
        """Check the optimistic runs in bulk (grouped by layout); redo the failed series."""
        groups: dict[tuple[int, int, int], list[int]] = {}
        for i, claim in enumerate(self.claims):
            groups.setdefault(claim[4], []).append(i)
        redo: list[int] = []
        for layout, members in groups.items():
            stride = layout[0]
            spans = [self.claims[i] for i in members]
            counts = np.array([c[3] for c in spans], dtype=np.int64)
            buf = self.buf
            rows = np.concatenate([buf[c[1] : c[2]] for c in spans]).reshape(-1, stride)
            ok, t, v = _decode_rows(rows, layout)
            firsts = np.zeros(len(spans), dtype=np.int64)
            np.cumsum(counts[:-1], out=firsts[1:])
            passed = np.logical_and.reduceat(ok, firsts).tolist()
            for k, i in enumerate(members):
                if passed[k]:
                    lo = int(firsts[k])
                    hi = lo + int(counts[k])
                    self.pieces[spans[k][0]].append((t[lo:hi], v[lo:hi]))
                else:
                    redo.append(i)
        for i in redo:
            index, q, end, _, _ = self.claims[i]
            self._fields(index, q, end, optimistic=False)

    def result(self) -> Scanned:
        counts = np.zeros(len(self.pieces) + 1, dtype=np.int64)
        ts: list[Int64Array] = []
        vs: list[Float64Array] = []
        for i, pieces in enumerate(self.pieces):
            for t, v in pieces:
                ts.append(t)
                vs.append(v)
                counts[i + 1] += len(t)
        t_all = np.concatenate(ts) if ts else np.empty(0, np.int64)
        v_all = np.concatenate(vs) if vs else np.empty(0, np.float64)
        return Scanned(
            self.labels,
            np.cumsum(counts),
            t_all.astype(np.int64, copy=False),
            v_all.astype(np.float64, copy=False),
            self.exemplars,
            self.histograms,
            self.metadata,
        )


def scan_write_request(raw: bytes, *, compiled: bool = COMPILED) -> Scanned:
    """The series of a decompressed ``WriteRequest`` (raises :class:`Fallback`): walked in C
    by :mod:`promql._wire` when it is in the canonical layout (and ``compiled``), else by
    :class:`_Walker`."""
    if compiled:
        found = _speedups.write_request(raw)
        if found is not None:
            return _scanned(raw, *found)
    walker = _Walker(raw)
    walker.walk()
    return walker.result()


def _scanned(
    raw: bytes,
    spans: bytearray,
    offsets: bytearray,
    t: bytearray,
    v: bytearray,
    exemplars: int,
    histograms: int,
    metadata: int,
) -> Scanned:
    """:class:`Scanned` from the compiled walk's columns; each series' label records
    (the same bytes in every body of a sender) are read once per process."""
    bounds = np.frombuffer(spans, dtype=np.int64)
    where = np.frombuffer(offsets, dtype=np.int64)
    labels: list[list[tuple[bytes, bytes]]] = []
    for start, stop in zip(bounds[0:-1:2].tolist(), bounds[1::2].tolist(), strict=True):
        head = raw[start:stop]
        pairs = _HEADS.get(head)
        if pairs is None:
            pairs = _label_records(raw, start, stop)
            if len(_HEADS) >= _HEADS_KEPT:
                _HEADS.clear()
            _HEADS[head] = pairs
        labels.append(list(pairs))
    samples = int(where[-1])
    return Scanned(
        labels,
        where,
        np.frombuffer(t, dtype=np.int64)[:samples],
        np.frombuffer(v, dtype=np.float64)[:samples],
        exemplars,
        histograms,
        metadata,
    )


def _label_records(raw: bytes, p: int, end: int) -> list[tuple[bytes, bytes]]:
    """The pairs of consecutive label records (field 1 of a series) in ``raw[p:end]``."""
    pairs = []
    while p < end:
        _, _, p = _tag(raw, p, end)
        length, p = _varint(raw, p, end)
        pairs.append(_label(raw, p, p + length))
        p += length
    return pairs
