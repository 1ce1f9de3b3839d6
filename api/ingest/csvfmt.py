"""CSV bodies for ``POST /v1/points``, parsed in blocks with pyarrow's CSV reader.

Three forms, told apart by the header line:

- long: ``key,t,v`` (any order), one point per line;
- wide: ``t,<key1>,<key2>,...``, one timestamp per line and one point per non-empty cell;
- one series: ``t,v`` (what ``GET /v1/series/{key}/points?format=csv`` returns), with the
  series' key given apart (``?key=`` of ``POST /v1/points``). Without it that header is an
  error, not a series named ``v``.

Timestamps are epoch milliseconds or ISO-8601 (relative forms too). Blank lines are skipped;
a point's ``line`` is its line number in the body (the header is line 1).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from api.ingest.blocks import BLOCK_BYTES, LineBlocks
from api.ingest.values import (
    MISSING_KEY,
    IntArray,
    timestamps_from_strings,
    values_from_strings,
)
from tsdb.bulk import Batch
from tsdb.errors import InvalidInput
from tsdb.rejections import Rejection, Rejections

__all__ = ["CsvParser"]

_LONG = ("key", "t", "v")
_TIME_NAMES = ("t", "time", "timestamp")
_VALUE_NAMES = ("v", "value")


class CsvParser:
    """Streaming CSV: :meth:`feed` pieces of the body, then :meth:`finish`."""

    pos_name = "line"

    def __init__(
        self,
        rejections: Rejections,
        now: int,
        block_bytes: int = BLOCK_BYTES,
        key: str | None = None,
    ) -> None:
        self.rejections = rejections
        self.now = now
        self.key = key
        self._lines = LineBlocks(block_bytes)
        self._columns: list[str] | None = None
        self._wide = False

    def feed(self, data: bytes) -> list[Batch]:
        self._lines.push(data)
        if self._columns is None:
            header = self._lines.header()
            if header is None:
                return []
            self._read_header(header)
        return [self._block(first, block) for first, block in self._lines.ready()]

    def finish(self) -> list[Batch]:
        if self._columns is None:
            rest = self._lines.rest()
            if rest:  # a header without a line break, and nothing else
                self._read_header(rest[0][1].rstrip(b"\r\n"))
            return []
        return [self._block(first, block) for first, block in self._lines.rest()]

    # -- header -----------------------------------------------------------------------------------

    def _read_header(self, line: bytes) -> None:
        text = line.decode("utf-8-sig", errors="replace").strip()
        names = [name.strip().strip('"').strip() for name in text.split(",")]
        single = len(names) == 2 and names[0].lower() in _TIME_NAMES
        if self.key is not None:
            if not single or names[1].lower() not in _VALUE_NAMES:
                raise InvalidInput(
                    "with ?key= the CSV holds one series: its header must be t,v; "
                    f"got {text[:200]!r}"
                )
            self._columns, self._wide = ["t", self.key], True
            return
        if sorted(names) == sorted(_LONG) and len(names) == 3:
            self._columns, self._wide = names, False
            return
        if len(names) >= 2 and names[0].lower() in _TIME_NAMES:
            keys = names[1:]
            if any(k.lower() in _VALUE_NAMES for k in keys):
                raise InvalidInput(
                    f"the CSV header {text[:200]!r} names a column {'/'.join(_VALUE_NAMES)}, not "
                    "a series key: a t,v file (one series, as format=csv exports it) needs the "
                    "key given as ?key=<key>; a wide file needs one key per column"
                )
            if any(not k for k in keys):
                raise InvalidInput("the CSV header has an empty column name")
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates:
                raise InvalidInput(f"the CSV header repeats {', '.join(duplicates)}")
            self._columns, self._wide = ["t", *keys], True
            return
        raise InvalidInput(
            "the CSV header must be key,t,v (one point per line) or t,<key>,<key>,... "
            f"(one column per series); got {text[:200]!r}"
        )

    # -- blocks -----------------------------------------------------------------------------------

    def _block(self, first_line: int, block: bytes) -> Batch:
        assert self._columns is not None
        if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b" ")
        invalid: list[tuple[int, int]] = []
        try:
            table = _read(block, self._columns, invalid)
        except pa.ArrowInvalid as exc:  # pragma: no cover - pyarrow found something else odd
            for number in range(first_line, first_line + block.count(b"\n")):
                self.rejections.add(Rejection(number, f"unreadable CSV: {exc}"))
            return Batch.empty()
        lines = _row_lines(first_line, [n for n, _ in invalid], table)
        for number, actual in invalid:
            self.rejections.add(
                Rejection(
                    first_line + number - 1,
                    f"expected {len(self._columns)} columns, found {actual}",
                )
            )
        if self._wide:
            return self._wide_block(table, lines)
        return self._long_block(table, lines)

    def _long_block(self, table: pa.Table, lines: IntArray) -> Batch:
        keys = table.column("key").combine_chunks()
        ts_col = table.column("t").combine_chunks()
        vs_col = table.column("v").combine_chunks()
        key_empty = _is_empty(keys)
        t_empty = _is_empty(ts_col)
        v_empty = _is_empty(vs_col)
        blank = key_empty & t_empty & v_empty
        times, t_errors = timestamps_from_strings(ts_col, self.now)
        values, v_errors = values_from_strings(vs_col)
        encoded = pc.dictionary_encode(keys)
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        names: list[str] = encoded.dictionary.to_pylist()
        reasons: dict[int, str] = dict(v_errors)
        reasons.update(t_errors)
        for i in np.flatnonzero(key_empty & ~blank).tolist():
            reasons[i] = MISSING_KEY
        ok = ~blank
        t_bad = {i for i, _ in t_errors}
        v_bad = {i for i, _ in v_errors}
        for i in sorted(reasons):
            if blank[i]:
                continue
            ok[i] = False
            self.rejections.add(
                Rejection(
                    int(lines[i]),
                    reasons[i],
                    None if key_empty[i] else names[codes[i]],
                    None if i in t_bad else int(times[i]),
                    None if i in v_bad else float(values[i]),
                )
            )
        return Batch(names, codes[ok], times[ok], values[ok], lines[ok])

    def _wide_block(self, table: pa.Table, lines: IntArray) -> Batch:
        assert self._columns is not None
        keys = self._columns[1:]
        ts_col = table.column(0).combine_chunks()
        cells = [table.column(j + 1).combine_chunks() for j in range(len(keys))]
        present = [~_is_empty(c) for c in cells]
        t_empty = _is_empty(ts_col)
        any_cell = np.logical_or.reduce(present) if present else np.zeros(len(ts_col), bool)
        times, t_errors = timestamps_from_strings(ts_col, self.now)
        t_reason = dict(t_errors)
        for i in np.flatnonzero(t_empty & ~any_cell).tolist():
            t_reason.pop(i, None)  # a blank line
        t_ok = np.ones(len(ts_col), dtype=bool)
        t_ok[list(t_reason)] = False
        codes, ts_parts, vs_parts, pos_parts = [], [], [], []
        for j, (column, mask) in enumerate(zip(cells, present, strict=True)):
            rows = np.flatnonzero(mask)
            if not len(rows):
                continue
            values, v_errors = values_from_strings(pc.take(column, pa.array(rows)))
            ok = t_ok[rows].copy()
            for k in np.flatnonzero(~ok).tolist():
                self.rejections.add(Rejection(int(lines[rows[k]]), t_reason[rows[k]], keys[j]))
            for k, reason in v_errors:
                if ok[k]:
                    ok[k] = False
                    row = rows[k]
                    self.rejections.add(
                        Rejection(int(lines[row]), reason, keys[j], int(times[row]))
                    )
            kept = rows[ok]
            codes.append(np.full(len(kept), j, dtype=np.int64))
            ts_parts.append(times[kept])
            vs_parts.append(values[ok])
            pos_parts.append(lines[kept])
        if not codes:
            return Batch.empty()
        return Batch(
            keys,
            np.concatenate(codes),
            np.concatenate(ts_parts),
            np.concatenate(vs_parts),
            np.concatenate(pos_parts),
        )


def _read(block: bytes, columns: list[str], invalid: list[tuple[int, int]]) -> pa.Table:
    """The block as a table of strings; rows with a wrong column count go to ``invalid``.

    Quoting is off so that every line is one row (keys, times and values never hold commas
    or line breaks); quotes around a field are removed. Parsed with threads first; if some
    rows are invalid, again without (only then does pyarrow tell their line numbers).
    """
    names = [f"c{i}" for i in range(len(columns))]
    found: list[tuple[int, int]] = []

    def on_invalid(row: Any) -> str:
        found.append((-1 if row.number is None else int(row.number), int(row.actual_columns)))
        return "skip"

    def read(data: bytes, threads: bool) -> pa.Table:
        found.clear()
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=threads, block_size=1 << 20
            ),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_invalid, ignore_empty_lines=False, quote_char=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            block = block.decode("utf-8", errors="replace").encode()
    table = read(block, True)
    if found:
        table = read(block, False)
    invalid.extend(found)
    if b'"' in block:  # quoting is off (one line, one row): unquote "key" and the like
        table = pa.table([pc.utf8_trim(c, characters='"') for c in table.columns], names=names)
    return table.rename_columns(columns)


def _row_lines(first_line: int, invalid: list[int], table: pa.Table) -> IntArray:
    """The body line number of each table row (rows skipped as invalid left out)."""
    numbers = np.arange(1, table.num_rows + len(invalid) + 1, dtype=np.int64)
    if invalid:
        numbers = np.setdiff1d(numbers, np.array(invalid, dtype=np.int64), assume_unique=True)
    return numbers + (first_line - 1)


def _is_empty(column: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(pc.equal(pc.binary_length(column), 0).to_numpy(zero_copy_only=False))
