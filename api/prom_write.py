"""Prometheus remote write 1.0 into tsapi series (``POST /api/v1/write``).

Series keys, deterministic and stateless: a series whose only label is ``__name__`` is
stored under the key ``<__name__>``; any other label set under
``<__name__>:<12 hex digits>``, the start of the SHA-1 of its sorted ``name=value`` lines
(``http_requests_total:3f9a1c2b7d4e``), so that every label set of a name has its own key
and the same labels always land in the same series. Series are created on first write
with all their labels (``__name__`` included) through the same path as every bulk write
(:class:`tsdb.bulk.BulkWriter`, tsapi's default duplicate policy), so duplicates and
out-of-order samples follow the series' policy and refused samples are reported like other
rejected points. A label name or value RedisTimeSeries cannot hold (a value with quotes,
``=``, ``!``, parentheses, commas or control characters), or a name that makes a reserved
key, rejects that series' samples with the reason. NaN, ±Inf and staleness markers go to
the series' companion (:mod:`tsdb.specials`); a series that gets only such samples is
created all the same, and finite samples clear the codes at their timestamps (the last
write wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import AsyncIterator, Iterable

import numpy as np
import numpy.typing as npt
from quart import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from api.extensions import store
from api.ingest.run import ingest
from promql.labels import METRIC_NAME
from promql.remote_write import WriteBatch, decode_write_request
from tsdb import specials
from tsdb.bulk import Batch, WriteSummary
from tsdb.errors import InvalidInput, SeriesExists
from tsdb.keys import validate_key, validate_labels
from tsdb.models import SeriesConfig
from tsdb.rejections import Rejection, Rejections

__all__ = ["read_body", "series_key", "to_batch", "write_remote"]

Specials = tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]


def series_key(labels: dict[str, str]) -> str:
    """The tsapi key of a remote-written label set (see the module's docstring)."""
    name = labels[METRIC_NAME]
    rest = sorted((k, v) for k, v in labels.items() if k != METRIC_NAME)
    if not rest:
        return name
    digest = hashlib.sha1("\n".join(f"{k}={v}" for k, v in rest).encode()).hexdigest()
    return f"{name}:{digest[:12]}"


async def read_body() -> bytes:
    """The raw (snappy) request body, refused past the server's body limit (413)."""
    limit: int | None = current_app.config.get("MAX_CONTENT_LENGTH")
    parts: list[bytes] = []
    total = 0
    async for raw in request.body:
        total += len(raw)
        if limit is not None and total > limit:
            raise RequestEntityTooLarge()
        parts.append(raw)
    return b"".join(parts)


class _OneBatch:
    """A parser for :func:`ingest` handing over one prepared batch."""

    def __init__(self, batch: Batch, rejections: Rejections) -> None:
        self.batch = batch
        self.rejections = rejections

    def feed(self, data: bytes) -> list[Batch]:
        return []

    def finish(self) -> Iterable[Batch]:
        return [self.batch] if len(self.batch) else []


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


@functools.lru_cache(maxsize=1 << 16)
def _series_of(labels: tuple[tuple[str, str], ...]) -> tuple[str, str | None]:
    """The key of a label set and why it cannot be stored (None if it can): remembered,
    since a sender repeats the same label sets in every body."""
    as_dict = dict(labels)
    key = series_key(as_dict)
    try:
        validate_key(key, "series key")
        validate_labels(as_dict)
    except InvalidInput as exc:
        return key, str(exc)
    return key, None


def to_batch(decoded: WriteBatch, rejections: Rejections) -> tuple[Batch, dict[str, Specials]]:
    """The finite samples as a :class:`Batch` (positions: sample index in the body) and the
    special ones by key; samples of series that cannot be stored are rejected."""
    keys: list[str] = []
    labels_by_key: dict[str, dict[str, str]] = {}
    offsets = decoded.offsets.tolist()
    series_codes = np.zeros(len(decoded.labels), dtype=np.int64)
    series_valid = np.ones(len(decoded.labels), dtype=bool)
    table: dict[str, int] = {}
    for i, labels in enumerate(decoded.labels):
        key, problem = _series_of(tuple(labels.items()))
        if problem is not None:
            series_valid[i] = False
            for at in range(offsets[i], offsets[i + 1]):
                rejections.add(Rejection(at, problem, key, int(decoded.t[at])))
            continue
        code = table.get(key)
        if code is None:
            code = table[key] = len(keys)
            keys.append(key)
            labels_by_key[key] = labels
        series_codes[i] = code
    counts = np.diff(decoded.offsets)
    codes = np.repeat(series_codes, counts)
    valid = np.repeat(series_valid, counts)
    kinds = specials.codes_of(decoded.v)
    finite = valid & (kinds == 0)
    pos = np.arange(len(decoded.t), dtype=np.int64)
    if finite.all():  # the usual body: no copies
        batch = Batch(keys, codes, decoded.t, decoded.v, pos, labels_by_key)
    else:
        batch = Batch(
            keys, codes[finite], decoded.t[finite], decoded.v[finite], pos[finite], labels_by_key
        )
    special: dict[str, Specials] = {}
    odd = np.flatnonzero(valid & (kinds != 0))
    if len(odd):
        for series in np.unique(codes[odd]).tolist():
            picked = odd[codes[odd] == series]
            special[keys[series]] = (decoded.t[picked], kinds[picked])
    return batch, special


async def write_remote(body: bytes) -> tuple[WriteSummary | None, int, Rejections]:
    """Decode and store one remote-write body; returns the bulk write's summary (None when
    it held only special values), the special samples stored and the rejections (raises
    :class:`tsdb.errors.WriteRejected` when finite samples were refused)."""
    limit: int = current_app.config.get("MAX_CONTENT_LENGTH") or 64 << 20
    decoded = decode_write_request(body, max_decoded_bytes=max(limit, 1 << 20))
    rejections = Rejections("index")
    batch, special = to_batch(decoded, rejections)
    summary = None
    data = store()
    stored = await specials.write(data.client, special)
    await _create_missing(batch, special)
    # which series have special values to clear, asked while the samples are written
    companions = asyncio.ensure_future(specials.with_companion(data.client, batch.keys))
    try:
        if len(batch) or rejections:
            summary = await ingest(_no_chunks(), _OneBatch(batch, rejections), data, create=True)
        found = await companions
    finally:
        if not companions.done():
            companions.cancel()
        elif not companions.cancelled():
            companions.exception()  # seen: the write's own error is the one raised
    await specials.clear_at(data.client, batch.keys, batch.codes, batch.ts, found)
    return summary, stored, rejections


async def _create_missing(batch: Batch, special: dict[str, Specials]) -> None:
    """Series that got only special samples (no finite one makes the bulk write create
    them) are created here, with their labels, so that they exist and are found."""
    alone = set(special) - {batch.keys[c] for c in np.unique(batch.codes).tolist()}
    for key in sorted(alone):
        if not await store().exists(key):
            with contextlib.suppress(SeriesExists):  # a concurrent write made it
                await store().create(key, SeriesConfig(labels=batch.labels.get(key, {})))
