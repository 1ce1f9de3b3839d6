"""``TS.MRANGE ... WITHLABELS`` replies (RESP3) parsed straight into numpy columns.

hiredis turns a reply into one Python list of an int and a float per sample: for millions
of samples that is most of a PromQL query's time (3 s for 5.7 M samples here, against
0.5 s for Redis to produce the reply). The samples of a series are lines of a fixed shape,
``*2``, ``:<timestamp>``, ``,<value>``, so they are read in bulk:

- by the compiled :mod:`tsdb._speedups` where the install built it: one pass in C over the
  whole reply, headers included (28 to 67 ns a sample measured, by how many digits the values
  have), into per-series buffers that grow across time slices (:class:`Joined`);
- else with numpy: the (few) header elements of each series read in Python, the positions
  of every line end and the shape of every sample line checked, then the timestamp and
  value texts, located by those positions, read by Arrow's string cast (several times
  slower).

Both read doubles exactly as ``float()`` does.

Anything that is not the expected shape raises :class:`Unusual`; the caller then parses
the reply the ordinary way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

try:
    from tsdb import _speedups
except ImportError:  # built without a C compiler: numpy reads the samples
    _speedups = None  # type: ignore[assignment]

__all__ = ["COMPILED", "Joined", "Unusual", "parse_mrange"]

COMPILED = _speedups is not None
"""Whether the compiled sample reader is in use."""

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
Buffer = bytes | bytearray
Parsed = list[tuple[str, dict[str, Any], Int64Array, Float64Array]]


class Unusual(Exception):
    """The reply is not of the shape this parser reads."""


def _line(raw: Buffer, p: int) -> tuple[Buffer, int]:
    end = raw.find(b"\r\n", p)
    if end < 0:
        raise Unusual
    return raw[p:end], end + 2


def _element(raw: Buffer, p: int) -> tuple[Any, int]:
    """One RESP3 element (headers only: labels, metadata) from ``p``."""
    if p >= len(raw):
        raise Unusual
    kind = raw[p]
    line, q = _line(raw, p + 1)
    try:
        if kind == 0x24:  # $ bulk string
            n = int(line)
            if n < 0:
                return None, q
            if raw[q + n : q + n + 2] != b"\r\n":
                raise Unusual
            return raw[q : q + n].decode(), q + n + 2
        if kind == 0x2B:  # + simple string
            return line.decode(), q
        if kind == 0x3A:  # : integer
            return int(line), q
        if kind == 0x5F:  # _ null
            return None, q
        if kind == 0x2C:  # , double
            return float(line), q
        if kind in (0x2A, 0x7E):  # * array, ~ set
            items = []
            for _ in range(int(line)):
                item, q = _element(raw, q)
                items.append(item)
            return items, q
        if kind == 0x25:  # % map
            out = {}
            for _ in range(int(line)):
                k, q = _element(raw, q)
                v, q = _element(raw, q)
                out[k] = v
            return out, q
    except (ValueError, UnicodeDecodeError, TypeError):
        raise Unusual from None
    raise Unusual


def _count(raw: Buffer, p: int, kind: int) -> tuple[int, int]:
    if p >= len(raw) or raw[p] != kind:
        raise Unusual
    line, q = _line(raw, p + 1)
    try:
        return int(line), q
    except ValueError:
        raise Unusual from None


_U = np.uint64


def _words(raw: Buffer) -> npt.NDArray[np.uint64]:
    """Every 8 bytes of ``raw`` from each position as a little-endian uint64 (overlapping
    view; ``raw`` must end with 8 bytes of padding)."""
    return np.ndarray((len(raw) - 7,), dtype="<u8", buffer=raw, strides=(1,))


def _cast(raw: Buffer, start: Int64Array, stop: Int64Array, kind: pa.DataType) -> Any:
    """The texts ``raw[start[i]:stop[i]]`` (in increasing order) as ``kind``, read by Arrow's
    cast in C: doubles by fast_float, correctly rounded as ``float()`` reads them. The texts
    are every other string of one array laid over ``raw`` (the others are what lies between
    them; only the picked ones are copied); :class:`Unusual` where one is not a number."""
    m = len(start)
    offsets = np.empty(2 * m + 1, dtype=np.int64)
    offsets[0:-1:2] = start
    offsets[1::2] = stop
    offsets[-1] = stop[-1]
    texts = pa.LargeStringArray.from_buffers(2 * m, pa.py_buffer(offsets), pa.py_buffer(raw))
    try:
        return pc.cast(texts.take(np.arange(0, 2 * m, 2)), kind).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise Unusual from None


CHUNK = 1 << 17
"""Samples parsed at a time."""


def _samples(
    raw: Buffer,
    buf: npt.NDArray[np.uint8],
    words: npt.NDArray[np.uint64],
    ends: Int64Array,
    pair: Int64Array,
    t_out: Int64Array,
    v_out: Float64Array,
) -> None:
    """Check and parse the sample lines whose "*2" line ends at ``ends[pair]``."""
    pair_start = ends[pair - 1] + 1
    stamp_end, value_end = ends[pair + 1], ends[pair + 2]
    # "*2\r\n:" opens every sample; "\r\n," ends its timestamp; "\r" ends its value
    if not (
        ((words[pair_start] & _U(0xFFFFFFFFFF)) == _U(_PAIR_OPEN)).all()
        and ((words[stamp_end - 1] & _U(0xFFFFFF)) == _U(_STAMP_CLOSE)).all()
        and (buf[value_end - 1] == 0x0D).all()
    ):
        raise Unusual
    if not len(pair):
        return
    t = _cast(raw, pair_start + 5, stamp_end - 1, pa.int64())
    if (t < 0).any() or (buf[pair_start + 5] == ord("+")).any():  # no sign, as RESP has
        raise Unusual
    t_out[:] = t
    v_out[:] = _cast(raw, stamp_end + 2, value_end - 1, pa.float64())


_PAIR_OPEN = int.from_bytes(b"*2\r\n:", "little")
_STAMP_CLOSE = int.from_bytes(b"\r\n,", "little")


def _header(raw: Buffer, p: int) -> tuple[str, dict[str, Any], int, int]:
    """A series' key, labels and sample count, and where its first sample line starts."""
    key, p = _element(raw, p)
    parts, p = _count(raw, p, 0x2A)
    if not isinstance(key, str) or parts < 1:
        raise Unusual
    labels: dict[str, Any] = {}
    for k in range(parts - 1):
        item, p = _element(raw, p)
        if k == 0:
            if not isinstance(item, dict):
                raise Unusual
            labels = item
    count, p = _count(raw, p, 0x2A)
    if count < 0:
        raise Unusual
    return key, labels, count, p


class Joined:
    """The replies of consecutive time slices of one ``TS.MRANGE``, each series' samples of
    all slices joined in order. The first reply carries the labels (``WITHLABELS``); a later
    one that lists a series the first did not (one created meanwhile, whose labels were
    not asked for) is :class:`Unusual`.

    With :mod:`tsdb._speedups` each reply's samples go straight into growing per-series
    buffers (room for ``slices`` times the first slice's samples); with numpy, each reply
    is parsed into arrays that :meth:`series` concatenates."""

    def __init__(self, slices: int = 1, *, compiled: bool = COMPILED) -> None:
        self._expect = float(max(slices, 1))
        self._compiled = compiled
        self._entries: dict[str, list[Any]] = {}  # key -> [labels, t, v, count]
        self._first = True

    def add(self, raw: Buffer, end: int | None = None) -> None:
        """The next slice's reply, ``raw[:end]`` (numpy: at least 8 bytes after it save a
        copy)."""
        end = len(raw) if end is None else end
        first, self._first = self._first, False
        if self._compiled:
            try:
                _speedups.mrange_add(raw, end, self._entries, first, self._expect)
            except (ValueError, KeyError):
                raise Unusual from None
            return
        for key, labels, t, v in _parse_numpy(raw, end):
            entry = self._entries.get(key)
            if entry is None:
                if not first:
                    raise Unusual
                self._entries[key] = entry = [labels, [], [], 0]
            entry[1].append(t)
            entry[2].append(v)

    def series(self) -> Parsed:
        """``(key, labels, timestamps, values)`` per series, in the first reply's order
        (labels as the reply has them, None values included)."""
        out: Parsed = []
        for key, (labels, t, v, count) in self._entries.items():
            if self._compiled:
                del t[8 * count :], v[8 * count :]  # the room left unused
                out.append((key, labels, np.frombuffer(t, np.int64), np.frombuffer(v, np.float64)))
            elif len(t) == 1:
                out.append((key, labels, t[0], v[0]))
            else:
                out.append((key, labels, np.concatenate(t), np.concatenate(v)))
        return out


def parse_mrange(raw: Buffer, end: int | None = None, *, compiled: bool = COMPILED) -> Parsed:
    """``(key, labels, timestamps, values)`` of each series of a RESP3 ``TS.MRANGE`` reply
    with ``WITHLABELS`` (labels as the reply has them, None values included): the reply is
    ``raw[:end]`` (all of it by default)."""
    joined = Joined(compiled=compiled)
    joined.add(raw, end)
    return joined.series()


def _parse_numpy(raw: Buffer, end: int) -> Parsed:
    if len(raw) - end < 8:
        raw = raw[:end] + bytes(8)
    buf = np.frombuffer(raw, dtype=np.uint8)[:end]
    ends = np.flatnonzero(buf == 0x0A).astype(np.int64)  # every line's \n
    series, p = _count(raw, 0, 0x25)
    headers: list[tuple[str, dict[str, Any], int, int]] = []  # key, labels, first line, count
    for _ in range(series):
        key, labels, count, p = _header(raw, p)
        line = int(np.searchsorted(ends, p))  # the \n of the first sample line
        last = line + 3 * count - 1
        if count:
            if last >= len(ends):
                raise Unusual
            p = int(ends[last]) + 1
        headers.append((key, labels, line, count))
    if p != end:
        raise Unusual
    counts = np.array([h[3] for h in headers], dtype=np.int64)
    total = int(counts.sum())
    if not total:
        empty_t, empty_v = np.empty(0, np.int64), np.empty(0, np.float64)
        return [(k, labels, empty_t, empty_v) for k, labels, _, _ in headers]
    words = _words(raw)
    t = np.empty(total, dtype=np.int64)
    v = np.empty(total, dtype=np.float64)
    lines = np.array([h[2] for h in headers], dtype=np.int64)
    upto = np.cumsum(counts)
    first = 0  # the series a chunk starts with
    done = 0  # samples parsed
    while first < len(headers):
        # whole series, about CHUNK samples: temporaries stay small (in cache, no page faults)
        last = min(int(np.searchsorted(upto, done + CHUNK)) + 1, len(headers))
        n = counts[first:last]
        size = int(n.sum())
        within = np.arange(size, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
        pair = np.repeat(lines[first:last], n) + 3 * within  # ends index of each "*2" line
        _samples(raw, buf, words, ends, pair, t[done : done + size], v[done : done + size])
        done += size
        first = last
    out: Parsed = []
    lo = 0
    for key, labels, _, count in headers:
        out.append((key, labels, t[lo : lo + count], v[lo : lo + count]))
        lo += count
    return out
