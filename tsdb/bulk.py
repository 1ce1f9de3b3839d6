"""Bulk writes: columnar batches of points for many series, written with pipelined TS.MADD.

The ingest parsers (``api/ingest``) turn request bodies into :class:`Batch` objects: numpy
arrays of series codes, timestamps, values and positions (index or line number in the body),
never one Python object per point. :class:`BulkWriter` validates the keys of a batch once per
key, sorts it by series and time, builds the RESP bytes of its TS.MADD commands with pyarrow
casts and joins (no per-sample Python work), and streams them on one connection while the
next batch is being parsed; the server's per-sample replies are mapped back to positions.

Points that cannot be written are collected as :class:`Rejection` entries in a bounded
:class:`Rejections` list; :class:`WriteRejected` carries them to the API. Besides
:mod:`tsdb.store`, this is the only module that speaks TimeSeries commands.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from tsdb.connection import Client, ServerDefaults, server_defaults
from tsdb.errors import InvalidInput, StoreUnavailable
from tsdb.faults import (
    DOES_NOT_EXIST,
    DUPLICATE,
    IGNORED,
    RETENTION,
    guarded,
    module_message,
    point_reason,
    translate,
)
from tsdb.functions import ENSURE, is_missing_function, load_functions
from tsdb.keys import validate_key, validate_labels
from tsdb.known import KnownSeries, generation_key
from tsdb.layout import IndexLayout
from tsdb.models import (
    CHUNK_GROWS_AT,
    DEFAULT_DUPLICATE_POLICY,
    LARGE_CHUNK_BYTES,
    SMALL_CHUNK_BYTES,
)
from tsdb.rejections import Rejections
from tsdb.resp import encode_samples, resp_text
from tsdb.rollups.hooks import WriteTracker

__all__ = ["Batch", "BulkWriter", "WriteSummary"]

log = logging.getLogger(__name__)

SEND_SAMPLES = 8_000
"""Samples encoded and sent at a time, so that Redis works while the next ones are encoded."""
SEND_BUFFER = 4 << 20
"""Bytes a writer may leave queued for the socket before it waits (see BulkWriter._send)."""
IN_FLIGHT = 1
"""Batches whose replies the writer leaves unread while it prepares the next one."""
IN_FLIGHT_TIERS = 3
"""The same once some series the write touched has tiers: Redis then fills them between the
writer's batches, and a writer that waited for each reply would wait on that work too."""
ENSURE_KEYS = 500
"""Series checked (and created) per ``tsapi_ensure`` call: one call blocks Redis a few ms."""

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]


# -- data ---------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Points for any number of series, as parallel arrays.

    ``codes[i]`` indexes ``keys``; ``pos[i]`` is where the point came from (its index in a
    JSON body or its line number in a text body). ``labels`` gives the labels of series that
    may have to be created, by key (merged over the writer's own labels).
    """

    keys: list[str]
    codes: Int64Array
    ts: Int64Array
    vs: Float64Array
    pos: Int64Array
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, selector: npt.NDArray[Any]) -> Batch:
        """The points picked by a boolean mask or an index array (same key table)."""
        return Batch(
            self.keys,
            self.codes[selector],
            self.ts[selector],
            self.vs[selector],
            self.pos[selector],
            self.labels,
        )

    @staticmethod
    def of_points(points: Sequence[tuple[str, int, float]]) -> Batch:
        """A batch of ``(key, t, v)`` tuples; a point's position is its index."""
        table: dict[str, int] = {}
        codes = [table.setdefault(key, len(table)) for key, _, _ in points]
        return Batch(
            list(table),
            _i64(codes),
            _i64([t for _, t, _ in points]),
            np.array([v for _, _, v in points], dtype=np.float64),
            np.arange(len(points), dtype=np.int64),
        )

    @staticmethod
    def empty() -> Batch:
        """A batch without points."""
        return Batch([], _i64([]), _i64([]), np.array([], dtype=np.float64), _i64([]))

    @staticmethod
    def concat(batches: Sequence[Batch]) -> Batch:
        """One batch holding every point of ``batches``, with one merged key table."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return Batch.empty()
        if len(batches) == 1:
            return batches[0]
        if all(b.keys is batches[0].keys for b in batches):  # one parser's growing key table
            return Batch(
                batches[0].keys,
                np.concatenate([b.codes for b in batches]),
                np.concatenate([b.ts for b in batches]),
                np.concatenate([b.vs for b in batches]),
                np.concatenate([b.pos for b in batches]),
                batches[-1].labels,
            )
        table: dict[str, int] = {}
        codes: list[Int64Array] = []
        labels: dict[str, dict[str, str]] = {}
        for batch in batches:
            remap = np.array([table.setdefault(k, len(table)) for k in batch.keys], dtype=np.int64)
            codes.append(remap[batch.codes])
            for key, key_labels in batch.labels.items():
                labels.setdefault(key, key_labels)
        return Batch(
            list(table),
            np.concatenate(codes),
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.vs for b in batches]),
            np.concatenate([b.pos for b in batches]),
            labels,
        )


@dataclass(frozen=True)
class WriteSummary:
    """What a write did: points stored, series created, series written to, and the points
    the series' IGNORE filter dropped as near-duplicates (not stored, not an error)."""

    written: int
    created: int
    series: int
    ignored: Rejections


@dataclass
class _Series:
    """What the writer knows of one series it writes to."""

    retention: int = 0  # ms; 0 keeps samples forever
    top: int | None = None  # the newest timestamp the series holds, as far as known
    # Accepted samples that a newer one may still push out of the retention window.
    held: Batch | None = None


# -- the writer ---------------------------------------------------------------------------------


@dataclass
class _Sent:
    """Commands sent for one batch whose replies are still to be read."""

    batch: Batch  # sorted, the points the commands carry
    commands: list[tuple[str, int, int]]  # ("ensure", group, 0) or ("madd", start, end)
    groups: list[list[str]] = field(default_factory=list)  # the keys of each ensure command


@guarded
class BulkWriter:
    """Writes batches with pipelined TS.MADD on one connection; use as ``async with``.

    ``create`` makes missing series (TS.CREATE with ``labels``, the batch's labels for that key
    and ``create_options`` such as ``["DUPLICATE_POLICY", "LAST"]``; tsapi's default policy is
    LAST) in the same pipeline as the samples, through the ``tsapi_ensure`` function, which
    also reports an existing series' retention. Without it, points of missing series are
    rejected with "series does not exist". With ``known`` (a process' memory of settled
    series, :mod:`tsdb.known`), series it holds are written without the ``tsapi_ensure``
    call; if their samples find them gone, they are forgotten and written again with it.
    Refused points go to ``rejections``, points the
    series' IGNORE filter dropped to ``ignored``, and accepted points that a newer one pushed
    out of the series' retention window are moved from written to rejected, so that
    ``written`` counts exactly what was stored; :meth:`finish` returns the summary.

    On a standalone Redis the RESP bytes are built here and written on one pooled connection;
    on a cluster (or with ``raw=False``) commands go through a redis-py pipeline, one key per
    TS.MADD, without the overlap.
    """

    def __init__(
        self,
        client: Client,
        rejections: Rejections,
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
        create_options: Sequence[str | int] = (),
        madd_samples: int = 10_000,
        raw: bool | None = None,
        known: KnownSeries | None = None,
    ) -> None:
        self.client = client
        self.rejections = rejections
        self.create = create
        self.labels = dict(labels or {})
        self.create_options = list(create_options)
        self.madd_samples = max(1, madd_samples)
        self.raw = isinstance(client, Redis) if raw is None else raw and isinstance(client, Redis)
        self.known = known if self.raw else None  # a cluster's writes ensure every series
        self._generation: bytes | None = None  # of ``known``, read by the first write
        self._trusted: set[str] = set()  # series written without an ensure, on ``known``'s word
        self._retry: list[Batch] = []  # their samples that found them missing
        self.written = 0
        self.created = 0
        self.ignored = Rejections(rejections.pos_name)
        self._valid: dict[str, str | None] = {}  # key -> None if valid, else the reason
        self._series: dict[str, _Series] = {}  # series ensured (created or found) so far
        self._create_failed: dict[str, str] = {}
        self._functions_missing = False
        self._touched: set[str] = set()
        self._incoming: dict[str, int] = {}  # samples per series of the batch being sent
        self._retaining = False  # some series has a retention window (see _trim_to_retention)
        self._pending: list[_Sent] = []
        self._conn: AbstractConnection | None = None
        self._defaults: ServerDefaults | None = None
        self._tiers = WriteTracker(client, self.labels)  # ROLLUPS: tiers follow the write
        self.layout = IndexLayout(client)

    async def __aenter__(self) -> BulkWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        assert isinstance(self.client, Redis)
        if exc_type is not None or self._pending:
            # Replies may still be on their way: this connection cannot be reused.
            self._pending.clear()
            await conn.disconnect()
        await self.client.connection_pool.release(conn)

    # -- public ---------------------------------------------------------------------------------

    @property
    def has_pending(self) -> bool:
        """True while replies of sent commands are still to be read."""
        return bool(self._pending)

    async def write(self, batch: Batch) -> None:
        """Send ``batch``; then read the replies of the batches sent before it."""
        if self.known is not None and self._generation is None:
            await self._first_contact()
        batch = self._valid_points(_sorted(batch))
        if len(batch):
            await self.layout.shards()  # a cluster's layout, to name each series' index
            self._touched.update(batch.keys[c] for c in _codes_in(batch))
            await self._tiers.prepare(batch.keys, batch.codes, batch.ts)  # ROLLUPS
            if self.raw:
                await self._send_raw(batch)
                while len(self._pending) > (IN_FLIGHT_TIERS if self._tiers.tiered else IN_FLIGHT):
                    await self._read_raw(self._pending.pop(0))
            else:
                await self._send_pipeline(batch)

    async def finish(self) -> WriteSummary:
        """Read every outstanding reply; return what was written."""
        while self._pending:
            await self._read_raw(self._pending.pop(0))
        if self._retry:
            await self._write_again()
        await self._tiers.finish()  # ROLLUPS: policies for new series, tiers of touched ones
        return WriteSummary(self.written, self.created, len(self._touched), self.ignored)

    async def preflight(self, batch: Batch) -> None:
        """Reject what the server would refuse, before anything is written (atomic mode).

        Checks keys, existence (unless ``create``), the retention window, and duplicate
        timestamps (within the batch and against stored samples) for series whose duplicate
        policy blocks them. Another writer may still change a series in between.
        """
        batch = self._valid_points(_sorted(batch))
        if not len(batch):
            return
        unique = np.array(_codes_in(batch), dtype=np.int64)
        keys = [batch.keys[c] for c in unique.tolist()]
        infos = await self._infos(keys)
        starts = np.searchsorted(batch.codes, unique, side="left")
        ends = np.searchsorted(batch.codes, unique, side="right")
        for key, info, start, end in zip(keys, infos, starts, ends, strict=True):
            part = np.arange(start, end)
            if info is None:
                if not self.create:
                    self.rejections.reject_points(batch, part, DOES_NOT_EXIST)
                    continue
                policy = self._create_policy()
                if policy.lower() == "block":
                    self._reject_repeats(batch, part)
                given = _option(self.create_options, "RETENTION")
                window = int(given) if given else (await server_defaults(self.client)).retention_ms
                if window:
                    old = batch.ts[start:end] < int(batch.ts[end - 1]) - window
                    self.rejections.reject_points(batch, part[old], RETENTION)
                continue
            ts = batch.ts[start:end]
            retention = int(info.get("retentionTime") or 0)
            last = int(info.get("lastTimestamp") or 0)
            total = int(info.get("totalSamples") or 0)
            if retention:
                # as written, anything older than the newest sample minus the retention goes
                old = ts < max(last if total else ts[-1], int(ts[-1])) - retention
                self.rejections.reject_points(batch, part[old], RETENTION)
            policy = info.get("duplicatePolicy") or await self._default_policy()
            if str(policy).lower() != "block":
                continue
            self._reject_repeats(batch, part)
            first = int(info.get("firstTimestamp") or 0)
            overlap = (ts >= first) & (ts <= last) if total else np.zeros(len(ts), dtype=bool)
            if overlap.any():
                lo, hi = int(ts[overlap].min()), int(ts[overlap].max())
                stored = await self._call("TS.RANGE", key, lo, hi)
                stored_ts = np.array([int(p[0]) for p in stored], dtype=np.int64)
                clash = overlap & np.isin(ts, stored_ts)
                self.rejections.reject_points(batch, part[clash], DUPLICATE)

    async def _first_contact(self) -> None:
        """One round trip for what the writer needs to know before its first batch: the
        generation of the series it knows settled, and whether any series has tiers."""
        assert self.known is not None
        prefix = self.layout.prefix_of_now("")
        pipe = self.client.pipeline(transaction=False)
        pipe.get(generation_key(prefix))
        tiers = self._tiers.ask(pipe)
        with translate():
            replies = await pipe.execute()
        if tiers:
            self._tiers.told(*replies[1:])
        self._generation = await self.known.sync(self.client, prefix, replies[0])

    # -- validation -------------------------------------------------------------------------------

    def _valid_points(self, batch: Batch) -> Batch:
        """Drop (and reject) the points of invalid keys (and of series with invalid labels)."""
        bad_codes: list[int] = []
        for code in _codes_in(batch):
            key = batch.keys[code]
            if key not in self._valid:
                known = self.known is not None and key in self.known  # exists: a valid key
                self._valid[key] = None if known else self._key_problem(key, batch)
            if self._valid[key] is not None:
                bad_codes.append(code)
        if not bad_codes:
            return batch
        bad_mask = np.isin(batch.codes, np.array(bad_codes, dtype=np.int64))
        for code in bad_codes:
            reason = self._valid[batch.keys[code]] or ""
            self.rejections.reject_points(batch, bad_mask & (batch.codes == code), reason)
        return batch.take(~bad_mask)

    def _key_problem(self, key: str, batch: Batch) -> str | None:
        try:
            validate_key(key)
            if self.create:
                validate_labels({**self.labels, **batch.labels.get(key, {})})
        except InvalidInput as exc:
            return str(exc)
        return None

    def _reject_repeats(self, batch: Batch, part: Int64Array) -> None:
        ts = batch.ts[part]
        repeat = np.zeros(len(ts), dtype=bool)
        repeat[1:] = ts[1:] == ts[:-1]
        self.rejections.reject_points(batch, part[repeat], DUPLICATE)

    # -- raw RESP on one connection ---------------------------------------------------------------

    async def _connection(self) -> AbstractConnection:
        if self._conn is None:
            assert isinstance(self.client, Redis)
            with translate():
                self._conn = await self.client.connection_pool.get_connection()
        return self._conn

    async def _send_raw(self, batch: Batch) -> None:
        conn = await self._connection()
        commands: list[tuple[str, int, int]] = []
        payload: list[bytes | memoryview] = []
        groups: list[list[str]] = []
        ensure = [batch.keys[c] for c in self._to_ensure(batch)]
        for start in range(0, len(ensure), ENSURE_KEYS):
            group = ensure[start : start + ENSURE_KEYS]
            payload.append(resp_text(*self._ensure_command(group, batch)).encode())
            commands.append(("ensure", len(groups), 0))
            groups.append(group)
        for start in range(0, len(batch), SEND_SAMPLES):
            end = min(start + SEND_SAMPLES, len(batch))
            body, offsets = encode_samples(batch, start, end)
            for first in range(start, end, self.madd_samples):
                last = min(first + self.madd_samples, end)
                payload.append(f"*{1 + 3 * (last - first)}\r\n$7\r\nTS.MADD\r\n".encode())
                payload.append(body[offsets[first - start] : offsets[last - start]])
                commands.append(("madd", first, last))
            await self._send(conn, payload)
            payload = []
        self._pending.append(_Sent(batch, commands, groups))

    async def _send(self, conn: AbstractConnection, payload: list[bytes | memoryview]) -> None:
        """Queue ``payload`` on the connection; wait for the socket only past SEND_BUFFER bytes.

        redis-py's ``send_packed_command`` waits until the socket has taken everything, which
        on loopback means until Redis has nearly worked through it: the next batch would only
        be prepared once Redis is idle. Leaving up to a few batches in the transport's buffer
        lets the two run side by side.
        """
        writer = getattr(conn, "_writer", None)
        with translate():
            if writer is None or not conn.is_connected:
                await conn.send_packed_command(payload, check_health=False)  # type: ignore[arg-type]
                return
            writer.writelines(payload)
            if writer.transport.get_write_buffer_size() > SEND_BUFFER:
                await writer.drain()

    async def _read_raw(self, sent: _Sent) -> None:
        conn = await self._connection()
        replies: list[Any] = []
        with translate():
            for _ in sent.commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        await self._learn_defaults(sent, replies)
        self._absorb(sent, replies)
        await self._check_functions()

    # -- redis-py pipeline (cluster) ---------------------------------------------------------------

    async def _send_pipeline(self, batch: Batch) -> None:
        pipe = self.client.pipeline(transaction=False)
        commands: list[tuple[str, int, int]] = []
        groups: list[list[str]] = []
        for code in self._to_ensure(batch):  # one key per call: keys of any slot
            group = [batch.keys[code]]
            pipe.execute_command(*self._ensure_command(group, batch))
            commands.append(("ensure", len(groups), 0))
            groups.append(group)
        bounds = np.flatnonzero(np.diff(batch.codes)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(batch)]
        ts, vs = batch.ts.tolist(), batch.vs.tolist()
        for run_start, run_end in zip(starts, ends, strict=True):
            key = batch.keys[int(batch.codes[run_start])]
            for first in range(run_start, run_end, self.madd_samples):
                last = min(first + self.madd_samples, run_end)
                args: list[Any] = []
                for t, v in zip(ts[first:last], vs[first:last], strict=True):
                    args += (key, t, v)
                pipe.execute_command("TS.MADD", *args)
                commands.append(("madd", first, last))
        with translate():
            replies = await pipe.execute(raise_on_error=False)
        sent = _Sent(batch, commands, groups)
        await self._learn_defaults(sent, replies)
        self._absorb(sent, replies)
        await self._check_functions()

    # -- replies -----------------------------------------------------------------------------------

    def _to_ensure(self, batch: Batch) -> list[int]:
        """The codes of the batch's series this writer has not ensured yet (marked now), with
        how many of the batch's samples each gets (the chunk size of a new one depends on it)."""
        self._incoming = {}
        wanted: list[int] = []
        for code, start, end in _runs(batch):
            key = batch.keys[code]
            if key not in self._series:
                self._series[key] = _Series()
                if self.known is not None and key in self.known:
                    self._trusted.add(key)
                    continue
                self._incoming[key] = end - start
                wanted.append(code)
        return wanted

    def _ensure_command(self, keys: list[str], batch: Batch) -> list[str | int]:
        """The ``tsapi_ensure`` call for ``keys`` (one index: one node on a cluster)."""
        args: list[str | int] = ["FCALL", ENSURE, len(keys), *keys]
        args += [self.layout.prefix_of_now(keys[0]), "1" if self.create else "0", *_CHUNKS]
        options = self._options if self.create else []
        args += [len(options), *options]
        for key in keys:
            labels = {**self.labels, **batch.labels.get(key, {})} if self.create else {}
            args += [self._incoming.get(key, 0), 2 * len(labels)]
            for name, value in labels.items():
                args += [name, value]
        return args

    @property
    def _options(self) -> list[str | int]:
        """TS.CREATE's options for new series (tsapi's default duplicate policy added)."""
        options: list[str | int] = list(self.create_options)
        if _option(options, "DUPLICATE_POLICY") is None:
            options += ["DUPLICATE_POLICY", DEFAULT_DUPLICATE_POLICY.value.upper()]
        return options

    def _create_policy(self) -> str:
        return _option(self.create_options, "DUPLICATE_POLICY") or DEFAULT_DUPLICATE_POLICY.value

    async def _learn_defaults(self, sent: _Sent, replies: list[Any]) -> None:
        """Read the module's defaults (once) when the replies created a series without a
        RETENTION option: its retention is the server's default."""
        if self._defaults is not None:
            return
        for (kind, _, _), reply in zip(sent.commands, replies, strict=True):
            if kind != "ensure" or isinstance(reply, Exception):
                continue
            states, retentions = reply[::4], reply[1::4]
            if any(int(s) == 1 and int(r) < 0 for s, r in zip(states, retentions, strict=True)):
                self._defaults = await server_defaults(self.client)
                return

    def _absorb(self, sent: _Sent, replies: list[Any]) -> None:
        """Count what the replies say was stored, ignored or refused."""
        batch = sent.batch
        stored = np.zeros(len(batch), dtype=bool)
        for (kind, first, last), reply in zip(sent.commands, replies, strict=True):
            if kind == "ensure":
                self._ensured_group(sent.groups[first], reply, batch)
            elif isinstance(reply, Exception):
                self._reject_span(batch, np.arange(first, last), reply)
            else:
                self._madd_reply(batch, first, last, reply, stored)
        self.written += int(stored.sum())
        self._tiers.stored(batch.keys, batch.codes, batch.ts, batch.vs, stored)  # ROLLUPS
        self._trim_to_retention(batch, stored)

    def _ensured_group(self, keys: list[str], reply: Any, batch: Batch) -> None:
        if isinstance(reply, Exception):
            if is_missing_function(reply):
                self._functions_missing = True
            for key in keys:
                self._create_failed[key] = module_message(reply)
            return
        for i, key in enumerate(keys):
            self._ensured(key, *reply[4 * i : 4 * i + 4])
            # ROLLUPS: a created series may get tiers from a policy
            self._tiers.ensured(key, int(reply[4 * i]) == 1, batch.labels.get(key, {}))

    def _ensured(self, key: str, state: int, retention: Any, last: int, settled: int) -> None:
        series = self._series[key]
        if state == -2:
            self._create_failed[key] = module_message(Exception(retention))
            return
        retention, last = int(retention), int(last)
        if settled and retention == 0 and self.known is not None:
            assert self._generation is not None
            self.known.add(key, self._generation)  # later writes need not ask (tsdb/known.py)
        if state == 1:
            self.created += 1
            assert self._defaults is not None  # read by _learn_defaults
            series.retention = retention if retention >= 0 else self._defaults.retention_ms
        elif state == 0:
            series.retention, series.top = retention, (last or None)
        self._retaining = self._retaining or series.retention > 0

    def _madd_reply(
        self, batch: Batch, first: int, last: int, reply: list[Any], stored: npt.NDArray[np.bool_]
    ) -> None:
        """TS.MADD answers each sample with its timestamp, an error, or, when the IGNORE
        filter dropped it, the timestamp of the series' last sample."""
        sent = batch.ts[first:last]
        try:
            answered = np.frombuffer(array("q", reply), dtype=np.int64)
            failed = np.zeros(last - first, dtype=bool)
        except TypeError:
            failed = np.array([isinstance(r, Exception) for r in reply], dtype=bool)
            answered = np.array([0 if f else int(r) for r, f in zip(reply, failed, strict=True)])
            by_reason: dict[str, list[int]] = {}
            for i in np.flatnonzero(failed).tolist():
                by_reason.setdefault(self._reason(batch, first + i, reply[i]), []).append(first + i)
            for reason, indexes in by_reason.items():
                self._refuse(batch, np.array(indexes, dtype=np.int64), reason)
        ok = ~failed & (answered == sent)
        stored[first:last] = ok
        dropped = ~failed & ~ok
        if dropped.any():
            self.ignored.reject_points(batch, first + np.flatnonzero(dropped), IGNORED)

    def _trim_to_retention(self, batch: Batch, stored: npt.NDArray[np.bool_]) -> None:
        """Move the stored samples that a newer one pushed out of their series' retention
        window (the module drops them when the newer one arrives) from written to rejected."""
        if not self._retaining:
            return
        for code, start, end in _runs(batch):
            series = self._series.get(batch.keys[code])
            if series is None or series.retention <= 0:
                continue  # nothing can be pushed out: no need to know its newest sample
            picked = start + np.flatnonzero(stored[start:end])
            if not len(picked):
                continue
            newest = int(batch.ts[picked[-1]])
            series.top = newest if series.top is None else max(series.top, newest)
            kept = batch.take(picked)
            if series.held is not None:
                kept = Batch.concat([series.held, kept])
            gone = kept.ts < series.top - series.retention
            if gone.any():
                self.written -= int(gone.sum())
                self.rejections.reject_points(kept, gone, RETENTION)
            series.held = kept.take(~gone)

    async def _check_functions(self) -> None:
        if self._functions_missing:
            await load_functions(self.client)
            raise StoreUnavailable(
                "tsapi's Redis functions were missing (a flushed or new Redis?) and have been "
                "loaded again: retry the write"
            )

    def _reject_span(self, batch: Batch, indexes: Int64Array, error: Exception) -> None:
        codes = batch.codes[indexes]
        for code in np.unique(codes).tolist():
            reason = self._reason(batch, int(indexes[codes == code][0]), error)
            self._refuse(batch, indexes[codes == code], reason)

    def _refuse(self, batch: Batch, indexes: Int64Array, reason: str) -> None:
        """Reject points the server refused, except those of series written on ``known``'s
        word that turned out missing: they are kept for :meth:`_write_again`."""
        if reason == DOES_NOT_EXIST and self._trusted:
            trusted = np.array(
                [batch.keys[c] in self._trusted for c in batch.codes[indexes].tolist()], dtype=bool
            )
            if trusted.any():
                self._retry.append(batch.take(indexes[trusted]))
                indexes = indexes[~trusted]
        if len(indexes):
            self.rejections.reject_points(batch, indexes, reason)

    async def _write_again(self) -> None:
        """Write the samples kept by :meth:`_refuse` once more, through ``tsapi_ensure`` this
        time (their series were deleted behind tsapi's back, or by a concurrent request)."""
        batch, self._retry = Batch.concat(self._retry), []
        for code in np.unique(batch.codes).tolist():
            key = batch.keys[code]
            self._trusted.discard(key)
            self._series.pop(key, None)
            if self.known is not None:
                self.known.discard(key)
        await self.write(batch)
        while self._pending:
            await self._read_raw(self._pending.pop(0))

    def _reason(self, batch: Batch, i: int, error: Exception) -> str:
        reason = point_reason(error)
        if reason == DOES_NOT_EXIST:
            failed = self._create_failed.get(batch.keys[int(batch.codes[i])])
            if failed:
                return f"the series could not be created: {failed}"
        return reason

    # -- preflight helpers ----------------------------------------------------------------------

    async def _infos(self, keys: list[str]) -> list[dict[str, Any] | None]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("TS.INFO", key)
        with translate():
            replies = await pipe.execute(raise_on_error=False)
        infos: list[dict[str, Any] | None] = []
        for reply in replies:
            if isinstance(reply, Exception):
                if point_reason(reply) != DOES_NOT_EXIST:
                    raise StoreUnavailable(f"Redis error: {reply}")
                infos.append(None)
            else:
                infos.append(_as_map(reply))
        return infos

    async def _default_policy(self) -> str:
        """The server-wide duplicate policy (read once per writer)."""
        if self._defaults is None:
            self._defaults = await server_defaults(self.client)
        return self._defaults.duplicate_policy

    async def _call(self, *args: Any) -> Any:
        with translate():
            return await self.client.execute_command(*args)


# -- helpers ------------------------------------------------------------------------------------


def _i64(values: Sequence[int]) -> Int64Array:
    return np.array(values, dtype=np.int64)


def _runs(batch: Batch) -> list[tuple[int, int, int]]:
    """``(code, start, end)`` of each series' run of points in a sorted batch."""
    codes = _codes_in(batch)
    starts = np.searchsorted(batch.codes, codes, side="left").tolist()
    ends = np.searchsorted(batch.codes, codes, side="right").tolist()
    return list(zip(codes, starts, ends, strict=True))


def _codes_in(batch: Batch) -> list[int]:
    """The series codes present in a sorted batch, in order."""
    codes = batch.codes
    if not len(codes):
        return []
    if codes[0] == codes[-1]:
        return [int(codes[0])]
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    return [int(codes[0]), *codes[starts].tolist()]


def _sorted(batch: Batch) -> Batch:
    """The batch ordered by series, then time; ties keep their order (the last one wins)."""
    if len(batch) < 2:
        return batch
    dc = np.diff(batch.codes)
    if np.all((dc > 0) | ((dc == 0) & (np.diff(batch.ts) >= 0))):
        return batch
    return batch.take(np.lexsort((batch.ts, batch.codes)))


_CHUNKS = (SMALL_CHUNK_BYTES, LARGE_CHUNK_BYTES, CHUNK_GROWS_AT)
"""What ``tsapi_ensure`` needs to move a growing series to large chunks."""


def _option(args: Sequence[Any], name: str) -> str | None:
    """The value after ``name`` in a flat option list, if present."""
    upper = [str(a).upper() for a in args]
    if name in upper:
        i = upper.index(name)
        if i + 1 < len(args):
            return str(args[i + 1])
    return None


def _as_map(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {str(k): v for k, v in zip(value[::2], value[1::2], strict=False)}
