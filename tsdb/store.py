"""The TimeSeries commands: the only place that speaks RedisTimeSeries.

:class:`TimeSeriesStore` wraps one client (standalone or cluster) and turns module
replies into the typed values of :mod:`tsdb.models`, and module errors into the
exceptions of :mod:`tsdb.errors`.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
from redis.asyncio import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from tsdb import specials
from tsdb.connection import Client, ServerDefaults, server_defaults
from tsdb.errors import (
    InvalidInput,
    InvalidQuery,
    RuleConflict,
    RuleNotFound,
    SeriesExists,
    SeriesNotFound,
    TsdbError,
    WriteRejected,
)
from tsdb.faults import Refused, guarded, point_reason_text, translate
from tsdb.filters import parse_filters
from tsdb.functions import (
    ALTER,
    CREATE,
    DELETE,
    LABELS,
    SET_POINT,
    is_missing_function,
    load_functions,
)
from tsdb.index import SeriesIndex
from tsdb.index_build import ensure_index
from tsdb.keys import validate_key, validate_labels
from tsdb.known import KnownSeries
from tsdb.models import (
    DEFAULT_DUPLICATE_POLICY,
    SMALL_CHUNK_BYTES,
    Aggregation,
    DuplicatePolicy,
    Encoding,
    LatestValue,
    MultiRangeQuery,
    Point,
    RangeQuery,
    Rule,
    SeriesConfig,
    SeriesInfo,
    SeriesPoints,
)
from tsdb.rejections import Rejections
from tsdb.rollups import hooks as rollups
from tsdb.workarounds import check_delete_range

if TYPE_CHECKING:
    from tsdb.bulk import Batch, BulkWriter, WriteSummary

__all__ = ["DEFAULT_CHUNK_POINTS", "TimeSeriesStore"]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_POINTS = 10_000
"""Samples per TS.MADD call: large enough to amortize round trips, small enough to stream."""


@guarded
class TimeSeriesStore:
    """Async access to the time series of one Redis (or Redis Cluster)."""

    def __init__(self, client: Client, *, chunk_points: int = DEFAULT_CHUNK_POINTS) -> None:
        self.client = client
        self.chunk_points = chunk_points
        self.index = SeriesIndex(client)
        self.layout = self.index.layout
        self.known = KnownSeries()  # settled series, whose writes skip tsapi_ensure
        self._functions_loaded = False
        self._defaults: ServerDefaults | None = None

    @property
    def is_cluster(self) -> bool:
        """True when talking to a Redis Cluster."""
        return isinstance(self.client, RedisCluster)

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(
        self, *args: Any, key: str | None = None, refused: Refused | None = None
    ) -> Any:
        """Run one command; errors become domain errors (:mod:`tsdb.faults`): "key does not
        exist" is :class:`SeriesNotFound` for ``key``, other refusals ``refused(message)``."""
        with translate(key=key, refused=refused):
            if key is None and isinstance(self.client, RedisCluster):
                # Keyless commands (MRANGE, MGET, QUERYINDEX) go to one primary; the
                # module's coordinator fans them out across shards (it learns the layout
                # from TIMESERIES.REFRESHCLUSTER, see refresh_cluster).
                node = self.client.get_default_node()
                return await self.client.execute_command(*args, target_nodes=node)
            return await self.client.execute_command(*args)

    async def _fcall(
        self, *args: Any, key: str | None = None, refused: Refused | None = None
    ) -> Any:
        """``FCALL`` one of tsapi's functions (loading them again if Redis lost them)."""
        await self._load_functions()
        try:
            return await self._call("FCALL", *args, key=key, refused=refused)
        except TsdbError as exc:
            if not is_missing_function(exc.__cause__ or exc):
                raise
        await load_functions(self.client)
        return await self._call("FCALL", *args, key=key, refused=refused)

    # -- series -----------------------------------------------------------------------------

    async def create(self, key: str, config: SeriesConfig | None = None) -> None:
        """Create a series (TS.CREATE); raise :class:`SeriesExists` if it is already there."""
        validate_key(key)

        def refused(message: str) -> TsdbError:
            return SeriesExists(key) if "already exists" in message else InvalidInput(message)

        config = config or SeriesConfig()
        if config.duplicate_policy is None:
            config = replace(config, duplicate_policy=DEFAULT_DUPLICATE_POLICY)
        if config.chunk_size is None:  # grows to large chunks once it holds many samples
            config = replace(config, chunk_size=SMALL_CHUNK_BYTES)
        args = _config_args(config, True)
        prefix = await self.layout.prefix_of(key)
        await self._fcall(CREATE, 1, key, prefix, *args, refused=refused)
        await rollups.created(self.client, key, config.labels)  # ROLLUPS: policies

    async def alter(self, key: str, config: SeriesConfig) -> None:
        """Change labels, retention, duplicate policy, chunk size... (TS.ALTER)."""
        validate_key(key)
        args = _config_args(config, False)
        if not args:
            await self.info(key)  # nothing to change, but still 404 for unknown series
            return
        prefix = await self.layout.prefix_of(key)
        await self._fcall(ALTER, 1, key, prefix, *args, key=key)
        await rollups.altered(self.client, key, config.retention_ms)  # ROLLUPS

    async def info(self, key: str) -> SeriesInfo:
        """What TS.INFO says about ``key``."""
        validate_key(key)
        raw = _as_map(await self._call("TS.INFO", key, key=key))
        empty = int(raw.get("totalSamples", 0)) == 0
        policy = raw.get("duplicatePolicy") or await self._default_policy()
        return SeriesInfo(
            key=key,
            labels=_as_map(raw.get("labels") or {}),
            total_samples=int(raw.get("totalSamples", 0)),
            memory_bytes=int(raw.get("memoryUsage", 0)),
            first_timestamp=None if empty else int(raw["firstTimestamp"]),
            last_timestamp=None if empty else int(raw["lastTimestamp"]),
            retention_ms=int(raw.get("retentionTime", 0)),
            chunk_count=int(raw.get("chunkCount", 0)),
            chunk_size=int(raw.get("chunkSize", 0)),
            encoding=Encoding(str(raw.get("chunkType", "compressed")).lower()),
            duplicate_policy=DuplicatePolicy(policy.lower()) if policy else None,
            ignore_max_time_diff=int(raw.get("ignoreMaxTimeDiff", 0)),
            ignore_max_val_diff=float(raw.get("ignoreMaxValDiff", 0.0)),
            source_key=raw.get("sourceKey") or None,
            rules=_parse_rules(raw.get("rules")),
        )

    async def exists(self, key: str) -> bool:
        """True when ``key`` holds a time series."""
        validate_key(key)
        return bool(await self._call("TYPE", key) == "TSDB-TYPE")

    async def delete(self, key: str) -> None:
        """Delete a series and its samples; rules into or out of it go with it."""
        validate_key(key)
        prefix = await self.layout.prefix_of(key)
        if not await self._fcall(DELETE, 1, key, prefix, key=key):
            raise SeriesNotFound(key)
        await rollups.dropped(self.client, key)  # ROLLUPS: its tiers go too
        await specials.drop(self.client, key)  # its NaN/±Inf/stale codes too

    async def keys(self, filters: Iterable[str] | None = None) -> list[str]:
        """Keys of the series matching the label filters (all series without a filter), sorted."""
        if filters:
            found = await self._call("TS.QUERYINDEX", *parse_filters(filters))
            return sorted(found)
        indexed = await self.index.keys()
        if indexed is not None:
            return indexed
        return await self._scan_keys()

    async def page(
        self, after: str | None, limit: int, filters: Iterable[str] | None = None
    ) -> tuple[list[str], bool]:
        """Up to ``limit`` series keys after ``after`` (matching ``filters``), sorted, and
        whether more follow. Without filters it costs what it returns (the series index)."""
        if not filters:
            found = await self.index.page(after, limit)
            if found is not None:
                return found
        keys = await self.keys(filters) if filters else await self._scan_keys()
        if after is not None:
            keys = keys[bisect.bisect_right(keys, after) :]
        return keys[:limit], len(keys) > limit

    async def _scan_keys(self) -> list[str]:
        """Every series key by scanning the keyspace (when the index cannot answer)."""
        with translate():
            keys = [k async for k in self.client.scan_iter(count=1000, _type="TSDB-TYPE")]
        return sorted(set(rollups.listed(keys)))  # ROLLUPS: tier series are not listed

    async def labels_of(self, keys: Sequence[str]) -> dict[str, dict[str, str]]:
        """Labels of each of ``keys`` (in one function call per node); unknown keys are left
        out."""
        if not keys:
            return {}
        groups: dict[str, list[str]] = {}
        if self.is_cluster:
            await self.layout.shards()
            for key in keys:
                groups.setdefault(self.layout.prefix_of_now(key), []).append(key)
        else:
            groups[""] = list(keys)
        found: dict[str, dict[str, str]] = {}
        for prefix, group in groups.items():
            replies = await self._labels_call(prefix, group)
            for key, flat in zip(group, replies, strict=True):
                if isinstance(flat, list):
                    found[key] = dict(zip(flat[::2], flat[1::2], strict=True))
        return {key: found[key] for key in keys if key in found}

    async def labels_matching(
        self, filters: Iterable[str], names: Sequence[str] | None = None
    ) -> dict[str, dict[str, str]]:
        """Labels (only ``names``, if given) of every series the filters select, in one
        TS.MGET."""
        args: list[Any] = ["TS.MGET"]
        args += ["SELECTED_LABELS", *names] if names else ["WITHLABELS"]
        reply = await self._call(*args, "FILTER", *parse_filters(filters), refused=InvalidQuery)
        return {
            key: {k: v for k, v in _as_map(value[0]).items() if v is not None}
            for key, value in _as_map(reply).items()
        }

    async def _labels_call(self, prefix: str, keys: list[str]) -> list[Any]:
        if not isinstance(self.client, RedisCluster):
            return cast(list[Any], await self._fcall(LABELS, 0, *keys))
        await self._load_functions()
        shard = next(s for s in await self.layout.shards() if s.prefix == prefix)
        with translate():
            return cast(
                list[Any],
                await self.client.execute_command(
                    "FCALL", LABELS, 0, *keys, target_nodes=shard.node
                ),
            )

    # -- writes -----------------------------------------------------------------------------

    async def add_many(
        self,
        points: Sequence[tuple[str, int, float]],
        *,
        create: bool = False,
        labels: dict[str, str] | None = None,
    ) -> WriteSummary:
        """Write ``(key, t, v)`` samples (any order) through the bulk writer; with ``create``,
        missing series are made with ``labels``.

        Returns what was stored, and the points the series' IGNORE filter dropped. If some
        are refused (duplicate blocked by the policy, older than the retention, unknown
        series), the others are still written and :class:`WriteRejected` lists each refused
        point with its index in ``points`` and the reason.
        """
        from tsdb.bulk import Batch  # pyarrow: only for what writes

        return await self._write(Batch.of_points(points), create, labels)

    def bulk_writer(
        self,
        rejections: Rejections,
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
        create_options: Sequence[str | int] = (),
    ) -> BulkWriter:
        """A :class:`tsdb.bulk.BulkWriter` with this store's client, TS.MADD size and memory
        of settled series (:mod:`tsdb.known`)."""
        from tsdb.bulk import BulkWriter

        return BulkWriter(
            self.client,
            rejections,
            create=create,
            labels=labels,
            create_options=create_options,
            madd_samples=self.chunk_points,
            known=self.known,
        )

    async def _write(
        self, batch: Batch, create: bool, labels: dict[str, str] | None
    ) -> WriteSummary:
        await self._load_functions()
        rejections = Rejections("index")
        async with self.bulk_writer(rejections, create=create, labels=labels) as writer:
            await writer.write(batch)
            summary = await writer.finish()
        if rejections:
            raise WriteRejected(
                rejections, summary.written, summary.created, ignored=summary.ignored
            )
        return summary

    async def write_series(
        self,
        key: str,
        t: npt.NDArray[np.int64],
        v: npt.NDArray[np.float64],
        *,
        create: bool = False,
        labels: dict[str, str] | None = None,
    ) -> WriteSummary:
        """:meth:`add_many` for one series' ``t`` and ``v`` arrays (no tuple per point)."""
        from tsdb.bulk import Batch

        batch = Batch(
            [key],
            np.zeros(len(t), dtype=np.int64),
            np.ascontiguousarray(t, dtype=np.int64),
            np.ascontiguousarray(v, dtype=np.float64),
            np.arange(len(t), dtype=np.int64),
        )
        return await self._write(batch, create, labels)

    async def upsert(self, key: str, t: int, v: float) -> bool:
        """Set the value at ``t`` whatever the duplicate policy and the IGNORE filter (in one
        atomic function call); True if the point is new."""
        validate_key(key)
        await self._load_functions()
        created = await self._call(
            "FCALL", SET_POINT, 1, key, t, v, key=key, refused=_refused_point
        )
        await rollups.changed(self.client, key, [(t, t)])  # ROLLUPS
        return bool(created)

    async def delete_range(self, key: str, from_ts: int | None, to_ts: int | None) -> int:
        """Delete the samples of ``key`` between the bounds (inclusive); return how many."""
        validate_key(key)
        _check_bounds(from_ts, to_ts)
        await check_delete_range(self, key, from_ts, to_ts)
        deleted = await self._call(
            "TS.DEL", key, _bound(from_ts, "-"), _bound(to_ts, "+"), key=key, refused=InvalidQuery
        )
        if deleted:
            await rollups.changed(self.client, key, [(from_ts, to_ts)])  # ROLLUPS
        await specials.clear_range(self.client, key, from_ts, to_ts)
        return int(deleted)

    # -- reads ------------------------------------------------------------------------------

    async def range(self, key: str, query: RangeQuery) -> list[Point]:
        """Samples of one series (TS.RANGE / TS.REVRANGE) with every option of the module."""
        validate_key(key)
        command = "TS.REVRANGE" if query.reverse else "TS.RANGE"
        args = [command, key, *_range_args(query)]
        return cast(list[Point], await self._call(*args, key=key, refused=InvalidQuery))

    async def mrange(self, query: MultiRangeQuery) -> list[SeriesPoints]:
        """Samples of every series a filter selects (TS.MRANGE / TS.MREVRANGE), by key."""
        filters = parse_filters(query.filters)
        if (query.group_by is None) != (query.reducer is None):
            raise InvalidQuery("group_by and reduce go together: give both or neither")
        r = query.range
        args: list[Any] = ["TS.MREVRANGE" if r.reverse else "TS.MRANGE"]
        args += [_bound(r.from_ts, "-"), _bound(r.to_ts, "+")]
        _check_range(r)
        if r.latest:
            args.append("LATEST")
        args += _filter_args(r)
        if query.selected_labels:
            args += ["SELECTED_LABELS", *query.selected_labels]
        elif query.with_labels:
            args.append("WITHLABELS")
        if r.count is not None:
            args += ["COUNT", r.count]
        args += _aggregation_args(r)
        args += ["FILTER", *filters]
        if query.group_by is not None and query.reducer is not None:
            args += ["GROUPBY", query.group_by, "REDUCE", query.reducer.value]
        reply = await self._call(*args, refused=InvalidQuery)
        result = [
            SeriesPoints(
                key=key,
                labels={k: v for k, v in _as_map(value[0]).items() if v is not None},
                points=value[-1],
            )
            for key, value in _as_map(reply).items()
        ]
        result.sort(key=lambda s: s.key)
        return result

    async def bounds_matching(self, filters: Iterable[str]) -> tuple[int, int] | None:
        """The first and the last timestamp over every series the filters select (one
        TS.MRANGE and one TS.MREVRANGE of one sample each); None when they hold no sample."""
        parsed = parse_filters(filters)
        ends: list[int] = []
        for command, pick in (("TS.MRANGE", min), ("TS.MREVRANGE", max)):
            reply = await self._call(
                command, "-", "+", "COUNT", 1, "FILTER", *parsed, refused=InvalidQuery
            )
            stamps = [int(v[-1][0][0]) for v in _as_map(reply).values() if v[-1]]
            if not stamps:
                return None
            ends.append(pick(stamps))
        return ends[0], ends[1]

    async def sample_counts(
        self,
        filters: Iterable[str],
        from_ts: int | None,
        to_ts: int | None,
        query: RangeQuery | None = None,
    ) -> dict[str, int]:
        """How many samples in [from, to] (passing ``query``'s value and time filters) each
        series the filters select holds, counted by the server in one TS.MRANGE."""
        args: list[Any] = ["TS.MRANGE", _bound(from_ts, "-"), _bound(to_ts, "+")]
        args += _filter_args(query or RangeQuery())
        args += ["ALIGN", 0, "AGGREGATION", "count", 1 << 62, "FILTER", *parse_filters(filters)]
        reply = await self._call(*args, refused=InvalidQuery)
        return {key: int(sum(b[1] for b in value[-1])) for key, value in _as_map(reply).items()}

    async def latest(
        self,
        filters: Iterable[str],
        *,
        latest: bool = False,
        with_labels: bool = True,
        selected_labels: Sequence[str] = (),
    ) -> list[LatestValue]:
        """The newest sample of every series a filter selects (TS.MGET), by key, with its
        labels (all, none, or only ``selected_labels``)."""
        args: list[Any] = ["TS.MGET"]
        if latest:
            args.append("LATEST")
        if selected_labels:
            args += ["SELECTED_LABELS", *selected_labels]
        elif with_labels:
            args.append("WITHLABELS")
        args += ["FILTER", *parse_filters(filters)]
        reply = await self._call(*args, refused=InvalidQuery)
        values = [
            LatestValue(
                key=key,
                labels={k: v for k, v in _as_map(value[0]).items() if v is not None},
                point=(int(value[1][0]), float(value[1][1])) if value[1] else None,
            )
            for key, value in _as_map(reply).items()
        ]
        values.sort(key=lambda lv: lv.key)
        return values

    # -- compaction rules -------------------------------------------------------------------

    async def create_rule(self, source: str, rule: Rule) -> None:
        """Compact ``source`` into ``rule.dest`` (both must exist; TS.CREATERULE)."""
        validate_key(source)
        validate_key(rule.dest, "dest")
        if source == rule.dest:
            raise InvalidInput("a series cannot be compacted into itself")
        if not await self.exists(source):
            raise SeriesNotFound(source)
        if not await self.exists(rule.dest):  # the request's target exists: not a 404
            raise RuleConflict(f"the destination series {rule.dest!r} does not exist")
        self.check_same_slot(source, rule.dest)
        args: list[Any] = ["TS.CREATERULE", source, rule.dest, "AGGREGATION"]
        args += [rule.aggregation.value, rule.bucket_ms]
        if rule.align_ms:
            args.append(rule.align_ms)
        await self._call(*args, key=source, refused=RuleConflict)

    async def delete_rule(self, source: str, dest: str) -> None:
        """Remove the rule from ``source`` into ``dest`` (TS.DELETERULE)."""
        validate_key(source)
        validate_key(dest, "dest")
        if not await self.exists(source):
            raise SeriesNotFound(source)
        await self._call(
            "TS.DELETERULE", source, dest, key=source, refused=lambda _: RuleNotFound(source, dest)
        )

    async def rules(self, key: str) -> list[Rule]:
        """The compaction rules out of ``key``."""
        return (await self.info(key)).rules

    def check_same_slot(self, source: str, dest: str) -> None:
        """On a cluster, refuse a rule between keys of different hash slots (shards)."""
        if self.is_cluster and key_slot(source.encode()) != key_slot(dest.encode()):
            raise InvalidInput(
                f"on a Redis Cluster a compaction rule needs {source!r} and {dest!r} in the same "
                "hash slot: give both keys the same hash tag, e.g. 'temp:{austin}' and "
                "'temp:{austin}:1h'"
            )

    async def prepare(self) -> None:
        """Get Redis ready for tsapi: the cluster layout (on a cluster), tsapi's functions, and
        the series index (rebuilt when missing). Every process that writes calls it when it
        starts."""
        await self.refresh_cluster()
        await load_functions(self.client)
        self._functions_loaded = True
        await ensure_index(self.client)

    async def _default_policy(self) -> str:
        """The policy the module applies to a series without one (read once per store)."""
        if self._defaults is None:
            self._defaults = await server_defaults(self.client)
        return self._defaults.duplicate_policy

    async def _load_functions(self) -> None:
        """Load tsapi's Redis functions once per store, before the first write needs them."""
        if not self._functions_loaded:
            await load_functions(self.client)
            self._functions_loaded = True

    # -- cluster ----------------------------------------------------------------------------

    async def refresh_cluster(self) -> None:
        """Tell every primary's TimeSeries module the current cluster layout.

        Needed after shards are added, removed or resharded, so that TS.MRANGE, TS.MGET
        and TS.QUERYINDEX reach every shard. Does nothing on a standalone Redis.
        """
        if not isinstance(self.client, RedisCluster):
            return
        with translate():
            try:
                await self.client.execute_command(
                    "TIMESERIES.REFRESHCLUSTER", target_nodes=self.client.get_primaries()
                )
            except ResponseError as exc:  # e.g. NOPERM for an ACL user without the permission
                log.warning(
                    "TIMESERIES.REFRESHCLUSTER failed (%s): queries across shards may miss some "
                    "after a topology change; run it on every primary",
                    exc,
                )


# -- argument builders and reply parsers ------------------------------------------------------


def _config_args(config: SeriesConfig, creating: bool) -> list[Any]:
    args: list[Any] = []
    if config.retention_ms is not None:
        if config.retention_ms < 0:
            raise InvalidInput("retention must be zero (keep forever) or positive")
        args += ["RETENTION", config.retention_ms]
    if config.encoding is not None:
        if not creating:
            raise InvalidInput("the encoding of an existing series cannot be changed")
        args += ["ENCODING", config.encoding.value.upper()]
    if config.chunk_size is not None:
        if config.chunk_size < 48 or config.chunk_size > 1_048_576 or config.chunk_size % 8:
            raise InvalidInput("chunk_size must be a multiple of 8 between 48 and 1048576")
        args += ["CHUNK_SIZE", config.chunk_size]
    if config.duplicate_policy is not None:
        args += ["DUPLICATE_POLICY", config.duplicate_policy.value.upper()]
    if config.ignore_max_time_diff is not None or config.ignore_max_val_diff is not None:
        time_diff = config.ignore_max_time_diff or 0
        val_diff = config.ignore_max_val_diff or 0.0
        if time_diff < 0 or val_diff < 0:
            raise InvalidInput("ignore_max_time_diff and ignore_max_val_diff must be >= 0")
        args += ["IGNORE", time_diff, val_diff]
    if config.labels is not None:
        labels = validate_labels(config.labels)
        args.append("LABELS")
        for name, value in labels.items():
            args += [name, value]
    return args


def _check_bounds(from_ts: int | None, to_ts: int | None) -> None:
    if from_ts is not None and to_ts is not None and from_ts > to_ts:
        raise InvalidQuery(f"from ({from_ts}) is after to ({to_ts})")


def _check_range(q: RangeQuery) -> None:
    _check_bounds(q.from_ts, q.to_ts)
    if q.aggregation is None:
        if q.bucket_ms is not None:
            raise InvalidQuery("bucket needs an aggregation (agg=avg, max, ...)")
        if q.align is not None or q.bucket_timestamp is not None or q.empty:
            raise InvalidQuery("align, bucket_timestamp and empty apply only with an aggregation")
    elif q.bucket_ms is None or q.bucket_ms <= 0:
        raise InvalidQuery("an aggregation needs a bucket greater than zero (bucket=1m, ...)")
    if q.count is not None and q.count <= 0:
        raise InvalidQuery("count must be greater than zero")
    if q.filter_by_value is not None and q.filter_by_value[0] > q.filter_by_value[1]:
        raise InvalidQuery("filter_by_value needs min <= max")
    if len(q.filter_by_ts) > 128:
        raise InvalidQuery("filter_by_ts takes at most 128 timestamps")


def _bound(ts: int | None, open_end: str) -> int | str:
    return open_end if ts is None else ts


def _filter_args(q: RangeQuery) -> list[Any]:
    args: list[Any] = []
    if q.filter_by_ts:
        args += ["FILTER_BY_TS", *sorted(set(q.filter_by_ts))]
    if q.filter_by_value is not None:
        args += ["FILTER_BY_VALUE", *q.filter_by_value]
    return args


def _aggregation_args(q: RangeQuery) -> list[Any]:
    if q.aggregation is None:
        return []
    args: list[Any] = []
    if q.align is not None:
        align = q.align
        if isinstance(align, str):
            align = {"start": "-", "end": "+"}.get(align, align)
        args += ["ALIGN", align]
    args += ["AGGREGATION", q.aggregation.value, q.bucket_ms]
    if q.bucket_timestamp is not None:
        args += ["BUCKETTIMESTAMP", q.bucket_timestamp.arg]
    if q.empty:
        args.append("EMPTY")
    return args


def _range_args(q: RangeQuery) -> list[Any]:
    _check_range(q)
    args: list[Any] = [_bound(q.from_ts, "-"), _bound(q.to_ts, "+")]
    if q.latest:
        args.append("LATEST")
    args += _filter_args(q)
    if q.count is not None:
        args += ["COUNT", q.count]
    return args + _aggregation_args(q)


def _as_map(value: Any) -> dict[str, Any]:
    """RESP3 maps arrive as dicts; RESP2-style flat lists are turned into one."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and value and isinstance(value[0], list):
        return {item[0]: item[1] for item in value}
    return dict(zip(value[::2], value[1::2], strict=False))


def _parse_rules(raw: Any) -> list[Rule]:
    rules: list[Rule] = []
    if not raw:
        return rules
    items = raw.items() if isinstance(raw, dict) else ((r[0], r[1:]) for r in raw)
    for dest, spec in items:
        bucket, aggregation, *rest = spec
        rules.append(
            Rule(
                dest=dest,
                bucket_ms=int(bucket),
                aggregation=Aggregation(str(aggregation).lower()),
                align_ms=int(rest[0]) if rest else 0,
            )
        )
    return sorted(rules, key=lambda r: r.dest)


def _refused_point(message: str) -> TsdbError:
    return InvalidInput(point_reason_text(message))
