"""The TimeSeries commands: the only place that speaks RedisTimeSeries.

:class:`TimeSeriesStore` wraps one client (standalone or cluster) and turns module
replies into the typed values of :mod:`tsdb.models`, and module errors into the
exceptions of :mod:`tsdb.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any, cast

from redis.asyncio import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tsdb.connection import Client
from tsdb.errors import (
    InvalidInput,
    InvalidQuery,
    PointError,
    RuleConflict,
    RuleNotFound,
    SeriesExists,
    SeriesNotFound,
    StoreUnavailable,
    WriteRejected,
)
from tsdb.filters import parse_filters
from tsdb.keys import validate_key, validate_labels
from tsdb.models import (
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

__all__ = ["DEFAULT_CHUNK_POINTS", "TimeSeriesStore"]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_POINTS = 10_000
"""Samples per TS.MADD call: large enough to amortize round trips, small enough to stream."""

_NOT_FOUND = ("the key does not exist", "the key is not a TSDB key")


class TimeSeriesStore:
    """Async access to the time series of one Redis (or Redis Cluster)."""

    def __init__(self, client: Client, *, chunk_points: int = DEFAULT_CHUNK_POINTS) -> None:
        self.client = client
        self.chunk_points = chunk_points

    @property
    def is_cluster(self) -> bool:
        """True when talking to a Redis Cluster."""
        return isinstance(self.client, RedisCluster)

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(self, *args: Any, key: str | None = None) -> Any:
        """Run one command, mapping connection trouble and 'key does not exist'."""
        try:
            if key is None and isinstance(self.client, RedisCluster):
                # Keyless commands (MRANGE, MGET, QUERYINDEX) go to one primary; the
                # module's coordinator fans them out across shards (it learns the layout
                # from TIMESERIES.REFRESHCLUSTER, see refresh_cluster).
                node = self.client.get_default_node()
                return await self.client.execute_command(*args, target_nodes=node)
            return await self.client.execute_command(*args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        except ResponseError as exc:
            message = str(exc)
            if key is not None and any(m in message for m in _NOT_FOUND):
                raise SeriesNotFound(key) from None
            raise
        except RedisError as exc:
            raise StoreUnavailable(f"Redis error: {exc}") from exc

    # -- series -----------------------------------------------------------------------------

    async def create(self, key: str, config: SeriesConfig | None = None) -> None:
        """Create a series (TS.CREATE); raise :class:`SeriesExists` if it is already there."""
        validate_key(key)
        try:
            await self._call("TS.CREATE", key, *_config_args(config or SeriesConfig(), True))
        except ResponseError as exc:
            if "already exists" in str(exc):
                raise SeriesExists(key) from None
            raise InvalidInput(_module_message(exc)) from None

    async def alter(self, key: str, config: SeriesConfig) -> None:
        """Change labels, retention, duplicate policy, chunk size... (TS.ALTER)."""
        validate_key(key)
        args = _config_args(config, False)
        if not args:
            await self.info(key)  # nothing to change, but still 404 for unknown series
            return
        try:
            await self._call("TS.ALTER", key, *args, key=key)
        except ResponseError as exc:
            raise InvalidInput(_module_message(exc)) from None

    async def info(self, key: str) -> SeriesInfo:
        """What TS.INFO says about ``key``."""
        validate_key(key)
        raw = _as_map(await self._call("TS.INFO", key, key=key))
        empty = int(raw.get("totalSamples", 0)) == 0
        policy = raw.get("duplicatePolicy")
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
        try:
            kind = await self.client.type(key)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return bool(kind == "TSDB-TYPE")

    async def delete(self, key: str) -> None:
        """Delete a series and its samples; rules into or out of it go with it."""
        if not await self.exists(key):
            raise SeriesNotFound(key)
        await self._call("DEL", key, key=key)

    async def keys(self, filters: Iterable[str] | None = None) -> list[str]:
        """Keys of the series matching the label filters (all series without a filter), sorted."""
        if filters:
            found = await self._call("TS.QUERYINDEX", *parse_filters(filters))
            return sorted(found)
        try:
            keys = [k async for k in self.client.scan_iter(count=1000, _type="TSDB-TYPE")]
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return sorted(set(keys))

    async def labels_of(self, keys: Sequence[str]) -> dict[str, dict[str, str]]:
        """Labels of each of ``keys`` (pipelined TS.INFO); unknown keys are left out."""
        if not keys:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("TS.INFO", key)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return {
            key: _as_map(_as_map(reply).get("labels") or {})
            for key, reply in zip(keys, replies, strict=True)
            if not isinstance(reply, Exception)
        }

    # -- writes -----------------------------------------------------------------------------

    async def add_many(self, points: Sequence[tuple[str, int, float]]) -> int:
        """Write samples with TS.MADD, sorted by series and time, in pipelined chunks.

        Returns how many were written. If the server refuses some (duplicate blocked by
        the policy, older than the retention, unknown series), the others are still
        written and :class:`WriteRejected` lists each refused point with its index in
        ``points`` and the reason.
        """
        if not points:
            return 0
        order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
        pipe = self.client.pipeline(transaction=False)
        batches: list[list[int]] = []
        for _key, group in groupby(order, key=lambda i: points[i][0]):
            indexes = list(group)
            for start in range(0, len(indexes), self.chunk_points):
                batch = indexes[start : start + self.chunk_points]
                args: list[Any] = []
                for i in batch:
                    args.extend(points[i])
                pipe.execute_command("TS.MADD", *args)
                batches.append(batch)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        rejected: list[PointError] = []
        written = 0
        for batch, reply in zip(batches, replies, strict=True):
            if isinstance(reply, Exception):
                reason = _point_reason(reply)
                rejected.extend(_point_error(points, i, reason) for i in batch)
                continue
            for i, result in zip(batch, reply, strict=True):
                if isinstance(result, Exception):
                    rejected.append(_point_error(points, i, _point_reason(result)))
                else:
                    written += 1
        if rejected:
            rejected.sort(key=lambda e: e.index)
            raise WriteRejected(written=written, rejected=rejected)
        return written

    async def upsert(self, key: str, t: int, v: float) -> bool:
        """Set the value at ``t`` whatever the duplicate policy; True if the point is new."""
        validate_key(key)
        existing = await self._call("TS.RANGE", key, t, t, key=key)
        try:
            await self._call("TS.ADD", key, t, v, "ON_DUPLICATE", "LAST", key=key)
        except ResponseError as exc:
            raise InvalidInput(_point_reason(exc)) from None
        return not existing

    async def delete_range(self, key: str, from_ts: int | None, to_ts: int | None) -> int:
        """Delete the samples of ``key`` between the bounds (inclusive); return how many."""
        validate_key(key)
        _check_bounds(from_ts, to_ts)
        try:
            deleted = await self._call(
                "TS.DEL", key, _bound(from_ts, "-"), _bound(to_ts, "+"), key=key
            )
        except ResponseError as exc:
            raise InvalidQuery(_module_message(exc)) from None
        return int(deleted)

    # -- reads ------------------------------------------------------------------------------

    async def range(self, key: str, query: RangeQuery) -> list[Point]:
        """Samples of one series (TS.RANGE / TS.REVRANGE) with every option of the module."""
        validate_key(key)
        command = "TS.REVRANGE" if query.reverse else "TS.RANGE"
        args = [command, key, *_range_args(query)]
        try:
            return cast(list[Point], await self._call(*args, key=key))
        except ResponseError as exc:
            raise InvalidQuery(_module_message(exc)) from None

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
        try:
            reply = await self._call(*args)
        except ResponseError as exc:
            raise InvalidQuery(_module_message(exc)) from None
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

    async def latest(self, filters: Iterable[str], *, latest: bool = False) -> list[LatestValue]:
        """The newest sample of every series a filter selects (TS.MGET), by key."""
        args: list[Any] = ["TS.MGET"]
        if latest:
            args.append("LATEST")
        args += ["WITHLABELS", "FILTER", *parse_filters(filters)]
        try:
            reply = await self._call(*args)
        except ResponseError as exc:
            raise InvalidQuery(_module_message(exc)) from None
        values = [
            LatestValue(
                key=key,
                labels=_as_map(value[0]),
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
        for key in (source, rule.dest):
            if not await self.exists(key):
                raise SeriesNotFound(key)
        self.check_same_slot(source, rule.dest)
        args: list[Any] = ["TS.CREATERULE", source, rule.dest, "AGGREGATION"]
        args += [rule.aggregation.value, rule.bucket_ms]
        if rule.align_ms:
            args.append(rule.align_ms)
        try:
            await self._call(*args, key=source)
        except ResponseError as exc:
            raise RuleConflict(_module_message(exc)) from None

    async def delete_rule(self, source: str, dest: str) -> None:
        """Remove the rule from ``source`` into ``dest`` (TS.DELETERULE)."""
        validate_key(source)
        validate_key(dest, "dest")
        if not await self.exists(source):
            raise SeriesNotFound(source)
        try:
            await self._call("TS.DELETERULE", source, dest, key=source)
        except ResponseError:
            raise RuleNotFound(source, dest) from None

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

    # -- cluster ----------------------------------------------------------------------------

    async def refresh_cluster(self) -> None:
        """Tell every primary's TimeSeries module the current cluster layout.

        Needed after shards are added, removed or resharded, so that TS.MRANGE, TS.MGET
        and TS.QUERYINDEX reach every shard. Does nothing on a standalone Redis.
        """
        if not isinstance(self.client, RedisCluster):
            return
        try:
            await self.client.execute_command(
                "TIMESERIES.REFRESHCLUSTER", target_nodes=self.client.get_primaries()
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        except ResponseError as exc:  # e.g. an ACL user without the permission
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


def _module_message(exc: Exception) -> str:
    return str(exc).removeprefix("ERR ").removeprefix("TSDB: ")


def _point_reason(exc: Exception) -> str:
    message = _module_message(exc)
    if "DUPLICATE_POLICY" in message or "BLOCK" in message:
        return "duplicate timestamp blocked by the series' duplicate policy"
    if "older than retention" in message:
        return "timestamp is older than the series' retention window"
    if any(m in message for m in _NOT_FOUND):
        return "series does not exist"
    return message


def _point_error(points: Sequence[tuple[str, int, float]], i: int, reason: str) -> PointError:
    key, t, v = points[i]
    return PointError(index=i, key=key, t=t, v=v, reason=reason)
