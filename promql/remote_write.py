"""Prometheus remote write 1.0: decoding (and, for tests and clients, encoding) of bodies.

A body is a ``prometheus.WriteRequest`` protobuf compressed with snappy's *block* format
(not the framed one). :func:`decode_write_request` turns it into a :class:`WriteBatch`:
the label set of each series and all samples as flat int64/float64 columns. Exemplars,
native histograms and metadata are not stored by tsapi: they are counted in the batch
(``ignored``) and otherwise skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import cramjam
import numpy as np
from google.protobuf.message import DecodeError

from promql.errors import RemoteWriteError
from promql.labels import METRIC_NAME
from promql.proto import remote_pb2
from promql.wire import Fallback, Scanned, scan_write_request

__all__ = [
    "DEFAULT_MAX_DECODED_BYTES",
    "WriteBatch",
    "decode_write_request",
    "encode_write_request",
]

DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024


@dataclass
class WriteBatch:
    """Decoded series: ``labels[i]`` owns samples ``offsets[i]:offsets[i+1]`` of ``t``/``v``."""

    labels: list[dict[str, str]]
    offsets: np.ndarray  # int64, len(labels) + 1
    t: np.ndarray  # int64 ms
    v: np.ndarray  # float64 (Prometheus' StaleNaN bit pattern kept)
    ignored: dict[str, int] = field(default_factory=dict)  # exemplars, histograms, metadata

    def __len__(self) -> int:
        return len(self.labels)

    def series(self) -> Iterator[tuple[dict[str, str], np.ndarray, np.ndarray]]:
        """Each series' labels, timestamps and values (views into the columns)."""
        for i, labels in enumerate(self.labels):
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            yield labels, self.t[lo:hi], self.v[lo:hi]

    @property
    def samples(self) -> int:
        return len(self.t)


def _uncompressed_length(body: bytes) -> int:
    length = shift = 0
    for i, byte in enumerate(body[:10]):
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return length
        shift += 7
        if i == 9:
            break
    raise RemoteWriteError("snappy: corrupt input (bad length header)")


def _text(raw: bytes, what: str, series: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteWriteError(f"series {series}: {what} {raw!r} is not valid UTF-8") from None


def decode_write_request(
    body: bytes, *, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
) -> WriteBatch:
    """Decode a remote-write body (snappy block + protobuf ``WriteRequest``).

    Raises :class:`RemoteWriteError` (``bad_data``) for a body that is not snappy or not
    the protobuf, larger than ``max_decoded_bytes`` once decompressed, or with a series
    that has no ``__name__``, a label name twice, an empty label name or invalid UTF-8.
    """
    if _uncompressed_length(body) > max_decoded_bytes:
        raise RemoteWriteError(
            f"decompressed body larger than the limit of {max_decoded_bytes} bytes"
        )
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise RemoteWriteError(f"snappy: {exc}") from None
    try:
        scanned = scan_write_request(raw)
    except Fallback:
        scanned = _scan_with_library(raw)
    labels_out: list[dict[str, str]] = []
    for i, pairs in enumerate(scanned.labels):
        labels = _known_labels(tuple(pairs))
        labels_out.append(_labels(pairs, i) if labels is None else labels)
    ignored = {
        name: count
        for name, count in (
            ("exemplars", scanned.exemplars),
            ("histograms", scanned.histograms),
            ("metadata", scanned.metadata),
        )
        if count
    }
    return WriteBatch(labels_out, scanned.offsets, scanned.t, scanned.v, ignored)


def _labels(pairs: Sequence[tuple[bytes, bytes]], i: int) -> dict[str, str]:
    """Series ``i``'s labels as text; :class:`RemoteWriteError` if they break a rule."""
    labels: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = _text(raw_name, "label name", i)
        if not name:
            raise RemoteWriteError(f"series {i}: empty label name")
        if name in labels:
            raise RemoteWriteError(f"series {i}: label name {name!r} is not unique")
        labels[name] = _text(raw_value, f"value of label {name!r}", i)
    if not labels.get(METRIC_NAME):
        raise RemoteWriteError(f"series {i}: no {METRIC_NAME} label")
    return labels


@functools.lru_cache(maxsize=1 << 16)
def _known_labels(pairs: tuple[tuple[bytes, bytes], ...]) -> dict[str, str] | None:
    """:func:`_labels`, remembered (a sender repeats its label sets in every body; callers
    must not change the dict); None where they break a rule (``_labels`` then says how)."""
    try:
        return _labels(pairs, 0)
    except RemoteWriteError:
        return None


def _scan_with_library(raw: bytes) -> Scanned:
    """What :func:`scan_write_request` gives, by the protobuf library (one Python object
    per sample: slower, but it takes any valid encoding and names what is invalid)."""
    request = remote_pb2.WriteRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise RemoteWriteError(f"not a prometheus.WriteRequest: {exc}") from None
    counts = np.zeros(len(request.timeseries) + 1, dtype=np.int64)
    times: list[int] = []
    values: list[float] = []
    labels: list[list[tuple[bytes, bytes]]] = []
    exemplars = histograms = 0
    for i, ts in enumerate(request.timeseries):
        labels.append([(label.name, label.value) for label in ts.labels])
        samples = ts.samples
        times.extend(s.timestamp for s in samples)
        values.extend(s.value for s in samples)
        counts[i + 1] = len(samples)
        exemplars += len(ts.exemplars)
        histograms += len(ts.histograms)
    return Scanned(
        labels,
        np.cumsum(counts),
        np.array(times, dtype=np.int64),
        np.array(values, dtype=np.float64),
        exemplars,
        histograms,
        len(request.metadata),
    )


def encode_write_request(
    series: Sequence[tuple[Mapping[str, str], Sequence[int], Sequence[float]]],
) -> bytes:
    """A remote-write body for ``(labels, timestamps_ms, values)`` series: labels sorted by
    name, protobuf ``WriteRequest``, snappy block format (as Prometheus sends it)."""
    request = remote_pb2.WriteRequest()
    for labels, ts, vs in series:
        item = request.timeseries.add()
        for name in sorted(labels):
            item.labels.add(name=name.encode(), value=labels[name].encode())
        for t, v in zip(ts, vs, strict=True):
            item.samples.add(value=float(v), timestamp=int(t))
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
