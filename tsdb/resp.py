"""RESP as bytes, built without a Python object per sample: the ``key t v`` arguments of
TS.MADD for columns of samples, and whole commands as text.

:mod:`tsdb.bulk` streams raw samples with these; :mod:`tsdb.rollups.hooks` sends the tier
buckets a writer computed itself the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

try:
    from tsdb import _speedups
except ImportError:  # built without a C compiler: pyarrow and Python write the samples
    _speedups = None  # type: ignore[assignment]

COMPILED = _speedups is not None
"""Whether samples are written by the compiled encoder."""

__all__ = [
    "COMPILED",
    "FEW_SAMPLES",
    "SampleColumns",
    "encode_compiled",
    "encode_few",
    "encode_many",
    "encode_samples",
    "resp_text",
]


class SampleColumns(Protocol):
    """Samples as columns: ``keys[codes[i]]`` holds ``(ts[i], vs[i])``."""

    @property
    def keys(self) -> Sequence[str]: ...

    @property
    def codes(self) -> npt.NDArray[np.int64]: ...

    @property
    def ts(self) -> npt.NDArray[np.int64]: ...

    @property
    def vs(self) -> npt.NDArray[np.float64]: ...


def encode_samples(
    batch: SampleColumns, start: int, end: int
) -> tuple[memoryview, npt.NDArray[np.int64]]:
    """RESP bulk strings ``key t v`` for samples ``start:end``, and each sample's byte offset
    (``end - start + 1`` of them). Written in C by :mod:`tsdb._speedups` where the install
    built it; else a few samples are joined in Python (pyarrow's calls would cost more than
    that work) and more by pyarrow."""
    if _speedups is not None:
        return encode_compiled(batch, start, end)
    if end - start <= FEW_SAMPLES:
        return encode_few(batch, start, end)
    return encode_many(batch, start, end)


def encode_compiled(
    batch: SampleColumns, start: int, end: int
) -> tuple[memoryview, npt.NDArray[np.int64]]:
    """:func:`encode_samples` in C (values: integers below 2**53 as digits, any other as
    ``repr``; both read back as the same double)."""
    assert _speedups is not None
    offsets = np.empty(end - start + 1, dtype=np.int64)
    body = _speedups.madd_args(
        batch.keys,
        np.ascontiguousarray(batch.codes, dtype=np.int64),
        np.ascontiguousarray(batch.ts, dtype=np.int64),
        np.ascontiguousarray(batch.vs, dtype=np.float64),
        start,
        end,
        offsets,
    )
    return memoryview(body), offsets


def encode_many(
    batch: SampleColumns, start: int, end: int
) -> tuple[memoryview, npt.NDArray[np.int64]]:
    """:func:`encode_samples` with pyarrow.

    Values are written by orjson (shortest round-trip form) and split by pyarrow; the
    ``$<length>`` headers come from small lookup tables; one element-wise join makes the
    records, whose concatenation is the data buffer of the joined array.
    """
    codes = batch.codes[start:end]
    tstr = pc.cast(pa.array(batch.ts[start:end]), pa.string())
    text = orjson.dumps(batch.vs[start:end], option=orjson.OPT_SERIALIZE_NUMPY)
    vstr = pc.split_pattern(pa.array([text[1:-1].decode()]), ",").flatten()
    tlen = np.diff(_offsets(tstr))
    mid = _MIDDLES.take(pa.array(np.diff(_offsets(vstr))))
    single = codes[0] == codes[-1]
    uniform = tlen[0] == tlen.min() == tlen.max()
    if single:
        key_part = _key_part(batch.keys[int(codes[0])])
        if uniform:
            head: Any = pa.scalar(f"{key_part}${tlen[0]}\r\n")
        else:
            head = pa.array([f"{key_part}${i}\r\n" for i in range(20)]).take(pa.array(tlen))
        joined = pc.binary_join_element_wise(head, tstr, mid, vstr, "\r\n", "")
    else:
        unique, local = np.unique(codes, return_inverse=True)
        parts = pa.array([_key_part(batch.keys[c]) for c in unique.tolist()], pa.string())
        lengths: Any = pa.scalar(f"${tlen[0]}\r\n") if uniform else _T_HEADS.take(pa.array(tlen))
        joined = pc.binary_join_element_wise(
            parts.take(pa.array(local)), lengths, tstr, mid, vstr, "\r\n", ""
        )
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    return memoryview(joined.buffers()[2]), _offsets(joined).astype(np.int64)


FEW_SAMPLES = 200


def encode_few(
    batch: SampleColumns, start: int, end: int
) -> tuple[memoryview, npt.NDArray[np.int64]]:
    """:func:`encode_samples` in plain Python."""
    values = orjson.dumps(batch.vs[start:end], option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    codes = np.unique(batch.codes[start:end]).tolist()
    parts = {code: _key_part(batch.keys[code]).encode() for code in codes}
    records = [
        b"%s$%d\r\n%d\r\n$%d\r\n%s\r\n" % (parts[c], len(str(t)), t, len(v), v)
        for c, t, v in zip(
            batch.codes[start:end].tolist(),
            batch.ts[start:end].tolist(),
            values.split(b","),
            strict=True,
        )
    ]
    offsets = np.zeros(len(records) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in records], out=offsets[1:])
    return memoryview(b"".join(records)), offsets


def _offsets(array: pa.Array) -> npt.NDArray[np.int32]:
    """The value offsets of a string array (``len + 1`` of them)."""
    raw = np.frombuffer(array.buffers()[1], dtype=np.int32)
    return raw[array.offset : array.offset + len(array) + 1]


_T_HEADS = pa.array([f"${i}\r\n" for i in range(20)])
_MIDDLES = pa.array([f"\r\n${i}\r\n" for i in range(64)])


def _key_part(key: str) -> str:
    return f"${len(key)}\r\n{key}\r\n"


def resp_text(*args: str | int | float, more: int = 0) -> str:
    """One command in RESP, as text (lengths counted in UTF-8 bytes); ``more``: arguments
    that follow, already encoded."""
    parts = [f"*{len(args) + more}\r\n"]
    for arg in args:
        text = str(arg)
        size = len(text) if text.isascii() else len(text.encode())
        parts.append(f"${size}\r\n{text}\r\n")
    return "".join(parts)
