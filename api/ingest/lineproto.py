"""InfluxDB line protocol into series: ``measurement[,tag=v...] field=1.5[,f2=2i] [timestamp]``.

Every numeric field (float, ``i`` integer, ``u`` unsigned) becomes a point of the series
``<measurement>:<field>``, labelled ``measurement=<m>``, ``field=<f>``, one label per tag and
``bucket=<b>`` when written through the InfluxDB endpoints. InfluxDB tells series apart by
their tag set (and bucket) too, so when there are tags or a bucket the key gets a short,
stable hash of them: ``cpu:usage_idle:3f9a1c2b7d4e``. Names that are not valid keys or labels
are made valid by replacing the offending characters with ``_`` (the hash keeps them apart).

String and boolean fields cannot be stored: each is rejected with a reason, and the line's
numeric fields are still written. A line that does not parse is rejected whole, as InfluxDB
does. Series are created on first write with ``DUPLICATE_POLICY LAST`` (InfluxDB's "the last
write wins" for a point written twice).
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from api.ingest.blocks import BLOCK_BYTES, LineBlocks
from api.ingest.values import FloatArray, IntArray
from tsdb.bulk import Batch
from tsdb.errors import InvalidInput
from tsdb.keys import KEY_MAX_LENGTH, LABEL_VALUE_MAX_LENGTH
from tsdb.rejections import Rejection, Rejections
from tsdb.timefmt import MAX_TIMESTAMP

__all__ = [
    "CREATE_OPTIONS",
    "LineError",
    "LineProtocolParser",
    "Precision",
    "parse_line",
    "parse_precision",
    "series_key",
    "series_labels",
]

CREATE_OPTIONS = ("DUPLICATE_POLICY", "LAST")
"""How line-protocol series are created: a point written again replaces the old value."""


class Precision(StrEnum):
    """Units of line-protocol timestamps."""

    NS = "ns"
    US = "us"
    MS = "ms"
    S = "s"
    M = "m"
    H = "h"


_PRECISION_ALIASES = {"n": "ns", "u": "us", "µ": "us", "µs": "us"}
# epoch ms = raw // divisor * multiplier
_SCALE = {
    Precision.NS: (1_000_000, 1),
    Precision.US: (1_000, 1),
    Precision.MS: (1, 1),
    Precision.S: (1, 1_000),
    Precision.M: (1, 60_000),
    Precision.H: (1, 3_600_000),
}
_BOOLEANS = frozenset(("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"))
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9:._-]")
_LABEL_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_LABEL_VALUE_UNSAFE = re.compile(r"[\x00-\x1f\x7f=!(),\"']")
_RESERVED_LABELS = ("measurement", "field", "bucket")
_INT64 = 2**63
_BOOLEAN_VALUES = pa.array(sorted(_BOOLEANS))
_BAD, _FLOAT, _BOOLEAN = 0, 1, 2
# What the vectorized path reads; anything else goes to parse_line.
_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_INTEGER = r"^-?[0-9]{1,19}$"
_UNSIGNED = r"^[0-9]{1,20}$"
_Columns = tuple[IntArray, IntArray, FloatArray, IntArray]


def _mask(array: pa.Array | pa.ChunkedArray) -> npt.NDArray[Any]:
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _cast(
    text: pa.Array, target: pa.DataType, pattern: str
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[Any]]:
    """Which entries are numbers of ``target`` type, and their values (cast once if all are)."""
    try:
        return np.ones(len(text), dtype=bool), _mask(pc.cast(text, target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = _mask(pc.match_substring_regex(text, pattern)).astype(bool)
    values = np.zeros(int(ok.sum()), dtype=target.to_pandas_dtype())
    try:
        values = _mask(pc.cast(text.filter(pa.array(ok)), target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # out of range
        ok[:] = False
        values = values[:0]
    return ok, values


def _field_numbers(raw: pa.Array) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Field values as floats, with their kind (_FLOAT, _BOOLEAN or _BAD)."""
    number = np.zeros(len(raw), dtype=np.float64)
    kind = np.full(len(raw), _BAD, dtype=np.int8)
    is_int = _mask(pc.ends_with(raw, "i")).astype(bool)
    is_unsigned = _mask(pc.ends_with(raw, "u")).astype(bool)
    is_bool = _mask(pc.is_in(raw, value_set=_BOOLEAN_VALUES)).astype(bool)
    is_float = ~(is_int | is_unsigned | is_bool)
    for mask, target, pattern in (
        (is_float, pa.float64(), _DECIMAL),
        (is_int, pa.int64(), _INTEGER),
        (is_unsigned, pa.uint64(), _UNSIGNED),
    ):
        if not mask.any():
            continue
        text = raw if mask.all() else raw.filter(pa.array(mask))
        if target is not pa.float64():
            text = pc.utf8_slice_codeunits(text, 0, -1)
        ok, values = _cast(text, target, pattern)
        where = np.flatnonzero(mask)[ok]
        number[where] = values
        kind[where] = _FLOAT
    kind[is_bool] = _BOOLEAN
    kind[~np.isfinite(number)] = _BAD
    return number, kind


def _factorize(values: IntArray, bound: int) -> tuple[IntArray, IntArray]:
    """``np.unique(values, return_inverse=True)`` for values in ``[0, bound)``, in O(n)."""
    if bound > 4 * len(values) + 1024:
        unique, inverse = np.unique(values, return_inverse=True)
        return unique, inverse
    present = np.bincount(values, minlength=bound) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[values]


def _unusual_lines(block: bytes) -> npt.NDArray[np.bool_]:
    """Lines the vectorized path leaves alone: escapes, quotes, odd spaces, comments, blanks."""
    buf = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    unusual = starts == ends  # blank
    first = buf[np.minimum(starts, len(buf) - 1)]
    unusual |= (first == ord("#")) | (first == ord(" "))
    unusual |= buf[np.maximum(ends - 1, 0)] == ord(" ")
    for char in (b"\\", b'"', b"\r", b"\t"):
        if char in block:
            unusual[np.searchsorted(ends, np.flatnonzero(buf == ord(char)))] = True
    if b"  " in block:
        spaces = np.flatnonzero((buf[:-1] == 32) & (buf[1:] == 32))
        unusual[np.searchsorted(ends, spaces)] = True
    return unusual


def parse_precision(value: str | None, *, v1: bool = False) -> Precision:
    """``ns`` (default), ``us``, ``ms``, ``s``; InfluxDB 1 also ``n``, ``u``, ``m``, ``h``."""
    text = (value or "ns").strip()
    text = _PRECISION_ALIASES.get(text, text)
    allowed = ("ns", "us", "ms", "s", "m", "h") if v1 else ("ns", "us", "ms", "s")
    if text not in allowed:
        raise InvalidInput(f"precision {value!r} is not supported: use one of {', '.join(allowed)}")
    return Precision(text)


class LineError(ValueError):
    """A line that is not valid line protocol."""


Tags = tuple[tuple[str, str], ...]
Field = tuple[str, float | str]  # name, value (a str is why the field is not stored)


# -- one line, with every escaping rule ---------------------------------------------------------


def parse_line(line: str) -> tuple[str, Tags, list[Field], int | None]:
    """Measurement, tags (sorted), fields and raw timestamp of one line; LineError if bad."""
    n = len(line)
    measurement, i = _scan(line, 0, ", ", ", ")
    value: float | str
    if not measurement:
        raise LineError("missing measurement")
    tags: dict[str, str] = {}
    while i < n and line[i] == ",":
        name, i = _scan(line, i + 1, "=, ", ",= ")
        if i >= n or line[i] != "=":
            raise LineError(f"missing tag value for {name!r}" if name else "missing tag key")
        tag_value, i = _scan(line, i + 1, ", =", ",= ")
        if i < n and line[i] == "=":
            raise LineError(f"unescaped '=' in the value of tag {name!r}")
        if not name or not tag_value:
            raise LineError("missing tag key" if not name else f"missing tag value for {name!r}")
        if name in tags:
            raise LineError(f"duplicate tag {name!r}")
        tags[name] = tag_value
    if i >= n or line[i] != " ":
        raise LineError("missing fields")
    while i < n and line[i] == " ":
        i += 1
    fields: list[Field] = []
    while True:
        name, i = _scan(line, i, "=, ", ",= ")
        if i >= n or line[i] != "=":
            raise LineError(f"missing field value for {name!r}" if name else "missing fields")
        if not name:
            raise LineError("missing field key")
        i += 1
        if i < n and line[i] == '"':
            i = _skip_string(line, i)
            value = f"field {name!r} is a string"
        else:
            raw, i = _scan(line, i, ", ", "")
            value = field_value(name, raw)
        fields.append((name, value))
        if i < n and line[i] == ",":
            i += 1
            continue
        break
    while i < n and line[i] == " ":
        i += 1
    stamp = line[i:].rstrip(" ")
    return measurement, tuple(sorted(tags.items())), fields, _timestamp(stamp)


def _scan(line: str, i: int, stops: str, escapable: str) -> tuple[str, int]:
    """Text from ``i`` up to an unescaped stop character; backslash escapes ``escapable``."""
    out: list[str] = []
    n = len(line)
    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n and (line[i + 1] in escapable or line[i + 1] == "\\"):
            out.append(line[i + 1])
            i += 2
            continue
        if c in stops:
            break
        out.append(c)
        i += 1
    return "".join(out), i


def _skip_string(line: str, i: int) -> int:
    """Index after the closing quote of the string field starting at ``i``."""
    i += 1
    n = len(line)
    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n:
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise LineError("unterminated string field")


def field_value(name: str, raw: str) -> float | str:
    """The number a field holds, or (as a str) why it is not stored; LineError if invalid."""
    if not raw:
        raise LineError(f"missing field value for {name!r}")
    if raw.isascii() and "_" not in raw:
        last = raw[-1]
        try:
            if last.isdigit() or last == ".":
                value = float(raw)
                if value - value == 0:  # finite
                    return value
            elif last == "i":
                return float(_bounded(int(raw[:-1])))
            elif last == "u":
                unsigned = int(raw[:-1])
                if 0 <= unsigned < 2**64 and raw[0] != "-":
                    return float(unsigned)
        except ValueError:
            pass
    if raw in _BOOLEANS:
        return f"field {name!r} is a boolean"
    raise LineError(f"invalid value {raw!r} for field {name!r}")


def _bounded(value: int) -> int:
    if not -_INT64 <= value < _INT64:
        raise ValueError(value)
    return value


def _timestamp(stamp: str) -> int | None:
    if not stamp:
        return None
    digits = stamp[1:] if stamp[0] == "-" else stamp
    if digits.isascii() and digits.isdigit():
        value = int(stamp)
        if -_INT64 <= value < _INT64:
            return value
    raise LineError(f"invalid timestamp {stamp!r}")


# -- series naming ------------------------------------------------------------------------------


def series_key(measurement: str, field: str, tags: Tags, bucket: str | None) -> str:
    """``measurement:field``, plus a hash of tags and bucket when there are any."""
    base = f"{_KEY_UNSAFE.sub('_', measurement)}:{_KEY_UNSAFE.sub('_', field)}"
    exact = base == f"{measurement}:{field}"
    if not tags and bucket is None and exact and len(base) <= KEY_MAX_LENGTH:
        return base
    identity = "\x00".join([bucket or "", measurement, field, *(f"{k}\x01{v}" for k, v in tags)])
    digest = hashlib.blake2b(identity.encode(), digest_size=6).hexdigest()
    return f"{base[: KEY_MAX_LENGTH - len(digest) - 1]}:{digest}"


def series_labels(measurement: str, field: str, tags: Tags, bucket: str | None) -> dict[str, str]:
    """Labels of a line-protocol series: measurement, field, tags and bucket."""
    labels: dict[str, str] = {}
    for name, value in tags:
        clean = _LABEL_NAME_UNSAFE.sub("_", name)[:128]
        if not (clean[0].isalpha() or clean[0] == "_"):
            clean = f"_{clean}"[:128]
        if clean in _RESERVED_LABELS:
            clean = f"tag_{clean}"
        labels[clean] = _label_value(value)
    labels["measurement"] = _label_value(measurement)
    labels["field"] = _label_value(field)
    if bucket is not None:
        labels["bucket"] = _label_value(bucket)
    return labels


def _label_value(value: str) -> str:
    return _LABEL_VALUE_UNSAFE.sub("_", value)[:LABEL_VALUE_MAX_LENGTH] or "_"


# -- the streaming parser -----------------------------------------------------------------------


class LineProtocolParser:
    """Streaming line protocol: :meth:`feed` pieces of the body, then :meth:`finish`."""

    pos_name = "line"

    def __init__(
        self,
        rejections: Rejections,
        now_ms: int,
        precision: Precision = Precision.NS,
        bucket: str | None = None,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self.rejections = rejections
        self.precision = precision
        self.bucket = bucket
        self._lines = LineBlocks(block_bytes)
        divisor, multiplier = _SCALE[precision]
        self._divisor, self._multiplier = divisor, multiplier
        self._now_raw = now_ms * divisor // multiplier
        self.keys: list[str] = []
        self.labels: dict[str, dict[str, str]] = {}
        self._heads: dict[str, tuple[str, Tags] | str] = {}
        self._codes: dict[tuple[str, Tags, str], int] = {}

    def feed(self, data: bytes) -> list[Batch]:
        self._lines.push(data)
        return [self._block(first, block) for first, block in self._lines.ready()]

    def finish(self) -> list[Batch]:
        return [self._block(first, block) for first, block in self._lines.rest()]

    # -- blocks -----------------------------------------------------------------------------------

    def _block(self, first_line: int, block: bytes) -> Batch:
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        text = block.decode("utf-8", errors="replace")
        lines = pc.split_pattern(pa.array([text]), "\n").flatten()
        lines = lines.slice(0, len(lines) - 1)  # the block ends with a line break
        fast, others = self._vectorized(lines, _unusual_lines(block), first_line)
        codes: list[int] = []
        stamps: list[int] = []
        values: list[float] = []
        numbers: list[int] = []
        texts = lines.take(pa.array(others)).to_pylist() if len(others) else []
        for row, line in zip(others.tolist(), texts, strict=True):
            if line and line[0] != "#" and not line.isspace():
                self._slow_line(first_line + row, line, codes, stamps, values, numbers)
        return self._batch(
            np.concatenate([fast[0], np.array(codes, dtype=np.int64)]),
            np.concatenate([fast[1], np.array(stamps, dtype=np.int64)]),
            np.concatenate([fast[2], np.array(values, dtype=np.float64)]),
            np.concatenate([fast[3] + first_line, np.array(numbers, dtype=np.int64)]),
        )

    def _vectorized(
        self, lines: pa.Array, unusual: npt.NDArray[np.bool_], first_line: int
    ) -> tuple[_Columns, IntArray]:
        """Points of the plain lines (no escapes, quotes or odd spacing), all with Arrow.

        Returns the points as ``(codes, raw stamps, values, row)`` and the rows of the lines
        left for the exact per-line parser: the unusual ones and every line with a problem,
        so that problems are always described by :func:`parse_line`.
        """
        rows = np.flatnonzero(~unusual)
        usual = lines if len(rows) == len(lines) else lines.take(pa.array(rows))
        parts = pc.split_pattern(usual, " ")
        count = _mask(pc.list_value_length(parts))
        fine = (count == 2) | (count == 3)
        if not fine.all():
            rows, parts, count = rows[fine], parts.filter(pa.array(fine)), count[fine]
        bad = np.zeros(len(rows), dtype=bool)  # by position in rows
        stamps = np.full(len(rows), self._now_raw, dtype=np.int64)
        timed = np.flatnonzero(count == 3)
        if len(timed):
            raw = pc.list_flatten(pc.list_slice(parts, 2, 3))  # the third part, where there is one
            done, stamp = _cast(raw, pa.int64(), _INTEGER)
            stamps[timed[done]] = stamp
            bad[timed[~done]] = True
        heads = pc.dictionary_encode(pc.list_element(parts, 0))
        head_of = _mask(heads.indices).astype(np.int64)
        parsed = [self._head(h) for h in heads.dictionary.to_pylist()]
        bad |= np.array([isinstance(p, str) for p in parsed], dtype=bool)[head_of]
        fieldsets = pc.split_pattern(pc.list_element(parts, 1), ",")
        item_line = _mask(pc.list_parent_indices(fieldsets)).astype(np.int64)
        pairs = pc.split_pattern(pc.list_flatten(fieldsets), "=", max_splits=1)
        whole = _mask(pc.list_value_length(pairs)) == 2
        if not whole.all():
            bad[item_line[~whole]] = True
            item_line, pairs = item_line[whole], pairs.filter(pa.array(whole))
        names = pc.list_element(pairs, 0)
        raw_values = pc.list_element(pairs, 1)
        number, kind = _field_numbers(raw_values)
        kind[_mask(pc.equal(pc.binary_length(names), 0))] = _BAD
        bad[item_line[kind == _BAD]] = True
        keep = ~bad[item_line]
        name_codes = pc.dictionary_encode(names)
        name_of = _mask(name_codes.indices).astype(np.int64)
        name_list = name_codes.dictionary.to_pylist()
        for i in np.flatnonzero(keep & (kind == _BOOLEAN)).tolist():
            self.rejections.add(
                Rejection(
                    int(rows[item_line[i]]) + first_line,
                    _not_numeric(f"field {name_list[name_of[i]]!r} is a boolean"),
                )
            )
        points = np.flatnonzero(keep & (kind == _FLOAT))
        line_of = item_line[points]
        width = max(len(name_list), 1)
        pairs_of = head_of[line_of] * width + name_of[points]
        unique, inverse = _factorize(pairs_of, len(parsed) * width)
        table = np.array(
            [
                self._code(*_head_of(parsed[pair // width]), name_list[pair % width])
                for pair in unique.tolist()
            ],
            dtype=np.int64,
        )
        fast = (table[inverse], stamps[line_of], number[points], rows[line_of])
        others = np.setdiff1d(np.arange(len(lines)), rows[~bad], assume_unique=True)
        return fast, others

    def _head(self, head: str) -> tuple[str, Tags] | str:
        parsed = self._heads.get(head)
        if parsed is None:
            parsed = self._heads[head] = _parse_head(head)
        return parsed

    def _slow_line(
        self,
        number: int,
        line: str,
        codes: list[int],
        stamps: list[int],
        values: list[float],
        lines: list[int],
    ) -> None:
        try:
            measurement, tags, fields, stamp = parse_line(line.lstrip(" "))
        except LineError as exc:
            self._reject_line(number, line, str(exc))
            return
        for name, value in fields:
            if isinstance(value, str):
                self.rejections.add(Rejection(number, _not_numeric(value)))
                continue
            codes.append(self._code(measurement, tags, name))
            values.append(value)
            stamps.append(self._now_raw if stamp is None else stamp)
            lines.append(number)

    def _code(self, measurement: str, tags: Tags, field: str) -> int:
        identity = (measurement, tags, field)
        code = self._codes.get(identity)
        if code is None:
            code = self._codes[identity] = len(self.keys)
            key = series_key(measurement, field, tags, self.bucket)
            self.keys.append(key)
            self.labels[key] = series_labels(measurement, field, tags, self.bucket)
        return code

    def _reject_line(self, number: int, line: str, why: str) -> None:
        shown = line if len(line) <= 120 else f"{line[:117]}..."
        self.rejections.add(Rejection(number, f"unable to parse '{shown}': {why}"))

    def _batch(
        self, codes: IntArray, stamps: IntArray, values: FloatArray, lines: IntArray
    ) -> Batch:
        raw = stamps
        if self._multiplier > 1:
            too_big = (raw > MAX_TIMESTAMP // self._multiplier) | (raw < 0)
            ts = np.where(too_big, -1, raw) * self._multiplier
        else:
            ts = raw // self._divisor
        batch = Batch(self.keys, codes, ts, values, lines, self.labels)
        bad = ts < 0
        if bad.any():
            for i in np.flatnonzero(bad).tolist():
                self.rejections.add(
                    Rejection(
                        int(batch.pos[i]),
                        f"timestamp {int(raw[i])} ({self.precision}) is before 1970 or too "
                        "large: only times from 1970-01-01 on are stored",
                        batch.keys[int(batch.codes[i])],
                    )
                )
            batch = batch.take(~bad)
        return batch


def _head_of(parsed: tuple[str, Tags] | str) -> tuple[str, Tags]:
    assert not isinstance(parsed, str)  # lines with a bad head were left out
    return parsed


def _parse_head(head: str) -> tuple[str, Tags] | str:
    """Measurement and sorted tags of an unescaped head, or why it is invalid."""
    measurement, *pairs = head.split(",")
    if not measurement:
        return "missing measurement"
    tags: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name or not value or "=" in value:
            return f"invalid tag {pair!r}"
        if name in tags:
            return f"duplicate tag {name!r}"
        tags[name] = value
    return measurement, tuple(sorted(tags.items()))


def _not_numeric(why: str) -> str:
    return f"{why}: only numeric fields (float, integer, unsigned) are stored"
