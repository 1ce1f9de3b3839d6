"""``TS.MRANGE ... WITHLABELS`` replies (RESP3) parsed straight into numpy columns.

hiredis turns a reply into one Python list of an int and a float per sample: for millions
of samples that is most of a PromQL query's time (3 s for 5.7 M samples here, against
0.5 s for Redis to produce the reply). The samples of a series are lines of a fixed shape,
``*2``, ``:<timestamp>``, ``,<value>``, so :func:`parse_mrange` reads the (few) header
elements of each series in Python and all the sample lines with numpy: the positions of
every line end, the shape of every sample line checked, timestamps from their digit
columns, values exactly as ``strtod`` reads them: a decimal of at most 15 significant
digits without exponent is ``digits / 10**k`` (both exact doubles, so the quotient is the
correctly rounded value: Clinger's fast path); anything else (more digits, exponents,
``inf``, ``nan``) goes through ``float()``.

Anything that is not the expected shape raises :class:`Unusual`; the caller then parses
the reply the ordinary way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Unusual", "parse_mrange"]

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
Buffer = bytes | bytearray
Parsed = list[tuple[str, dict[str, Any], Int64Array, Float64Array]]

_ZERO, _NINE, _DOT, _MINUS = ord("0"), ord("9"), ord("."), ord("-")
_FAST_DIGITS = 15
_POW10 = 10.0 ** np.arange(23)


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
_ASCII0 = _U(0x3030303030303030)
_HIGH_NIBBLES = _U(0xF0F0F0F0F0F0F0F0)
_SIXES = _U(0x0606060606060606)


def _words(raw: Buffer) -> npt.NDArray[np.uint64]:
    """Every 8 bytes of ``raw`` from each position as a little-endian uint64 (overlapping
    view; ``raw`` must end with 8 bytes of padding)."""
    return np.ndarray((len(raw) - 7,), dtype="<u8", buffer=raw, strides=(1,))


def _digits8(
    words: npt.NDArray[np.uint64], end: Int64Array, n: Int64Array
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """The value of the ``n`` (1..8) decimal digits ending before ``end``, and whether they
    are all digits (8 digits at once: Lemire's SWAR reduction)."""
    x = words[end - 8]
    low = ((8 - n) * 8).astype(np.uint64)
    np.left_shift(_U(1), low, out=low)
    low -= _U(1)  # a mask of the bytes before the digits
    x &= ~low
    low &= _ASCII0
    x |= low  # those bytes read as "0"
    check = x & _HIGH_NIBBLES
    ok = check == _ASCII0
    np.add(x, _SIXES, out=check)
    check &= _HIGH_NIBBLES
    ok &= check == _ASCII0
    x &= _U(0x0F0F0F0F0F0F0F0F)
    x *= _U(2561)
    x >>= _U(8)
    x &= _U(0x00FF00FF00FF00FF)
    x *= _U(6553601)
    x >>= _U(16)
    x &= _U(0x0000FFFF0000FFFF)
    x *= _U(42949672960001)
    x >>= _U(32)
    return x, ok


def _unsigned(
    words: npt.NDArray[np.uint64], start: Int64Array, stop: Int64Array
) -> tuple[Int64Array, npt.NDArray[np.bool_]]:
    """Unsigned decimal integers of 1 to 16 digits in ``[start, stop)``; ``ok`` False where
    the text is anything else."""
    width = stop - start
    ok = (width >= 1) & (width <= 16)
    low_n = np.clip(width, 1, 8)
    value, good = _digits8(words, stop, low_n)
    ok &= good
    wide = np.flatnonzero(width > 8)
    if len(wide):
        high, good = _digits8(words, stop[wide] - 8, np.clip(width[wide] - 8, 1, 8))
        high *= _U(100_000_000)
        value[wide] += high
        ok[wide] &= good
    return value.view(np.int64), ok


def _doubles(
    raw: Buffer, words: npt.NDArray[np.uint64], start: Int64Array, stop: Int64Array
) -> Float64Array:
    """The RESP3 doubles in ``raw[start:stop]``, each exactly as ``float()`` reads it."""
    whole, plain = _unsigned(words, start, stop)
    plain &= stop - start <= _FAST_DIGITS
    out = whole.astype(np.float64)
    rest = np.flatnonzero(~plain)
    if len(rest):
        out[rest] = _decimals(raw, start[rest], stop[rest])
    return out


def _decimals(raw: Buffer, start: Int64Array, stop: Int64Array) -> Float64Array:
    """Doubles with a sign or a dot (column by column), anything else by ``float()``."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    width = stop - start
    out = np.empty(len(start), dtype=np.float64)
    slow: list[int] = []
    for w in np.unique(width).tolist():
        rows = np.flatnonzero(width == w)
        at = start[rows]
        if not 1 <= w <= 2 + _FAST_DIGITS:
            slow.extend(rows.tolist())
            continue
        n = len(rows)
        mantissa = np.zeros(n, dtype=np.int64)
        after = np.zeros(n, dtype=np.int64)  # digits after the dot
        digits = np.zeros(n, dtype=np.int64)
        dots = np.zeros(n, dtype=np.int64)
        first = buf[at]
        negative = first == _MINUS
        ok = np.ones(n, dtype=bool)
        for j in range(w):
            c = first if j == 0 else buf[at + j]
            is_digit = (c >= _ZERO) & (c <= _NINE)
            is_dot = c == _DOT
            ok &= is_digit | is_dot | (negative if j == 0 else False)
            mantissa = np.where(is_digit, mantissa * 10 + (c.astype(np.int64) - _ZERO), mantissa)
            after += is_digit & (dots > 0)
            digits += is_digit
            dots += is_dot
        ok &= (dots <= 1) & (digits >= 1) & (digits <= _FAST_DIGITS)
        value = mantissa.astype(np.float64) / _POW10[np.minimum(after, 22)]
        out[rows] = np.where(negative, -value, value)
        if not ok.all():
            slow.extend(rows[~ok].tolist())
    for i in slow:
        try:
            out[i] = float(raw[int(start[i]) : int(stop[i])])
        except ValueError:
            raise Unusual from None
    return out


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
    t, ok = _unsigned(words, pair_start + 5, stamp_end - 1)
    if not ok.all():
        raise Unusual
    t_out[:] = t
    v_out[:] = _doubles(raw, words, stamp_end + 2, value_end - 1)


_PAIR_OPEN = int.from_bytes(b"*2\r\n:", "little")
_STAMP_CLOSE = int.from_bytes(b"\r\n,", "little")


def parse_mrange(raw: Buffer, end: int | None = None) -> Parsed:
    """``(key, labels, timestamps, values)`` of each series of a RESP3 ``TS.MRANGE`` reply
    with ``WITHLABELS`` (labels as the reply has them, None values included): the reply is
    ``raw[:end]`` (all of it by default); at least 8 bytes after it save a copy."""
    end = len(raw) if end is None else end
    if len(raw) - end < 8:
        raw = raw[:end] + bytes(8)
    buf = np.frombuffer(raw, dtype=np.uint8)[:end]
    ends = np.flatnonzero(buf == 0x0A).astype(np.int64)  # every line's \n
    series, p = _count(raw, 0, 0x25)
    headers: list[tuple[str, dict[str, Any], int, int]] = []  # key, labels, first line, count
    for _ in range(series):
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
