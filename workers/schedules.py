"""Recurring jobs: a job type and params run on a cron expression or a fixed interval.

Schedules live in Redis (a hash of definitions and a sorted set of next runs). Every
worker looks for due schedules every few seconds; one claim key per run makes sure each
run is submitted once however many workers there are. Params are checked again at every
run, so relative times (``"from": "-1d"``) mean "the day before this run".
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from croniter import CroniterBadDateError, croniter
from redis import Redis

from core.settings import Settings
from tsdb.connection import connect
from tsdb.errors import InvalidInput, TsdbError
from tsdb.faults import guarded
from tsdb.keys import schedule_claim_key, schedules_due_key, schedules_key
from tsdb.store import TimeSeriesStore
from tsdb.timefmt import now_ms, parse_duration
from workers import registry
from workers.errors import JobError, ScheduleNotFound
from workers.queue import JobQueue

__all__ = ["CRON_PATTERN", "Schedule", "ScheduleStore", "Ticker", "fire_due"]

log = logging.getLogger(__name__)
MIN_INTERVAL_MS = 10_000
_MINUTE = r"(?:[0-5]?[0-9])"
_HOUR = r"(?:[01]?[0-9]|2[0-3])"
_DAY = r"(?:0?[1-9]|[12][0-9]|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_WEEKDAY = r"(?:[0-7])"


def _cron_field(value: str) -> str:
    item = rf"(?:\*|{value}(?:-{value})?)(?:/[1-9][0-9]{{0,2}})?"
    return rf"{item}(?:,{item})*"


CRON_PATTERN = (
    "^" + " ".join(_cron_field(v) for v in (_MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY)) + "$"
)
"""Five cron fields (minute hour day month weekday) of numbers, ``*``, ranges, lists and
steps: the grammar the API takes (a subset of what croniter reads)."""


@dataclass(frozen=True)
class Schedule:
    """A job type and params, run on ``cron`` or ``every`` milliseconds."""

    id: str
    type: str
    params: dict[str, Any]
    cron: str | None
    every_ms: int | None
    next_run: int
    created_at: int
    runs: int = 0
    last_job: str | None = None
    last_error: str | None = None
    jobs: list[str] = field(default_factory=list)


def next_run(cron: str | None, every_ms: int | None, after: int) -> int:
    """The first run strictly after ``after`` (epoch ms)."""
    if cron is not None:
        start = datetime.fromtimestamp(after / 1000, UTC)
        following = croniter(cron, start).get_next(datetime)
        return int(following.timestamp() * 1000)
    assert every_ms is not None
    return after + every_ms


def check_timing(cron: str | None, every: str | int | None) -> int | None:
    """Validate ``cron`` xor ``every``; return ``every`` in ms."""
    if (cron is None) == (every is None):
        raise InvalidInput("give either 'cron' (e.g. '0 3 * * *') or 'every' (e.g. '1h')")
    if cron is not None:
        if not croniter.is_valid(cron):
            raise InvalidInput(f"{cron!r} is not a cron expression (minute hour day month weekday)")
        try:
            next_run(cron, None, now_ms())
        except CroniterBadDateError:
            raise InvalidInput(f"{cron!r} never fires (no such date)") from None
        return None
    every_ms = parse_duration(every, "every")  # type: ignore[arg-type]
    if every_ms < MIN_INTERVAL_MS:
        raise InvalidInput("every must be at least 10s")
    return every_ms


@guarded
class ScheduleStore:
    """Schedules in Redis (the job queue's Redis)."""

    def __init__(self, connection: Redis) -> None:
        self.connection = connection

    def create(
        self,
        job_type: str,
        params: dict[str, Any],
        *,
        cron: str | None = None,
        every_ms: int | None = None,
        start_at: int | None = None,
    ) -> Schedule:
        """Add a schedule; its first run is ``start_at`` or the next one after now."""
        now = now_ms()
        first = start_at if start_at is not None else next_run(cron, every_ms, now)
        schedule = Schedule(
            id=uuid.uuid4().hex[:16],
            type=job_type,
            params=params,
            cron=cron,
            every_ms=every_ms,
            next_run=first,
            created_at=now,
        )
        self._save(schedule)
        return schedule

    def _save(self, schedule: Schedule) -> None:
        with self.connection.pipeline(transaction=True) as pipe:
            pipe.hset(schedules_key(), schedule.id, orjson.dumps(asdict(schedule)))
            pipe.zadd(schedules_due_key(), {schedule.id: schedule.next_run})
            pipe.execute()

    def get(self, schedule_id: str) -> Schedule:
        raw = self.connection.hget(schedules_key(), schedule_id)
        if raw is None:
            raise ScheduleNotFound(f"no schedule {schedule_id!r}")
        return Schedule(**orjson.loads(raw))

    def all(self) -> list[Schedule]:
        """Every schedule, soonest next run first."""
        raw = self.connection.hgetall(schedules_key())
        schedules = [Schedule(**orjson.loads(v)) for v in raw.values()]
        return sorted(schedules, key=lambda s: (s.next_run, s.id))

    def delete(self, schedule_id: str) -> None:
        """Remove a schedule (jobs it already submitted are unaffected)."""
        with self.connection.pipeline(transaction=True) as pipe:
            pipe.hdel(schedules_key(), schedule_id)
            pipe.zrem(schedules_due_key(), schedule_id)
            removed, _ = pipe.execute()
        if not removed:
            raise ScheduleNotFound(f"no schedule {schedule_id!r}")

    def claim_due(self, now: int) -> list[tuple[Schedule, int]]:
        """Schedules due at ``now`` that this process won the right to run, with their due time."""
        due: list[tuple[bytes, float]] = self.connection.zrangebyscore(  # type: ignore[assignment]
            schedules_due_key(), "-inf", now, withscores=True
        )
        claimed: list[tuple[Schedule, int]] = []
        for raw_id, score in due:
            schedule_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            if self.connection.set(
                schedule_claim_key(schedule_id, int(score)), 1, nx=True, ex=86_400
            ):
                try:
                    claimed.append((self.get(schedule_id), int(score)))
                except ScheduleNotFound:
                    continue  # deleted meanwhile
        return claimed

    def record(self, schedule: Schedule, due: int, job_id: str | None, error: str | None) -> None:
        """Move a schedule to its next run and remember what this run did."""
        try:
            current = self.get(schedule.id)
        except ScheduleNotFound:
            return
        # skip runs missed while no worker was up: the next run is after now
        following = next_run(current.cron, current.every_ms, max(due, now_ms()))
        updated = replace(
            current,
            next_run=following,
            runs=current.runs + (1 if job_id else 0),
            last_job=job_id or current.last_job,
            last_error=error,
            jobs=([job_id] if job_id else []) + current.jobs[:19],
        )
        self._save(updated)


async def _prepare(schedule: Schedule, store: TimeSeriesStore) -> dict[str, Any]:
    kind = registry.get(schedule.type)
    params = await kind.prepare(kind.params.model_validate(schedule.params), store)
    return params.model_dump(mode="json", by_alias=True)


def fire_due(schedules: ScheduleStore, queue: JobQueue, settings: Settings) -> int:
    """Submit a job for every due schedule this process claims; return how many ran."""
    claimed = schedules.claim_due(now_ms())
    if not claimed:
        return 0

    async def prepare_all() -> list[dict[str, Any] | Exception]:
        client = connect(settings.redis_url, socket_timeout=settings.redis_timeout)
        store = TimeSeriesStore(client)
        try:
            results: list[dict[str, Any] | Exception] = []
            for schedule, _ in claimed:
                try:
                    results.append(await _prepare(schedule, store))
                except (TsdbError, JobError, ValueError) as exc:
                    results.append(exc)
            return results
        finally:
            await client.aclose()

    fired = 0
    for (schedule, due), prepared in zip(claimed, asyncio.run(prepare_all()), strict=True):
        if isinstance(prepared, Exception):
            log.warning("schedule %s not run: %s", schedule.id, prepared)
            schedules.record(schedule, due, None, f"{type(prepared).__name__}: {prepared}")
            continue
        document = queue.submit(schedule.type, prepared)
        schedules.record(schedule, due, document.id, None)
        fired += 1
    return fired


class Ticker:
    """A thread that fires due schedules every ``interval`` seconds until stopped."""

    def __init__(
        self, schedules: ScheduleStore, queue: JobQueue, settings: Settings, interval: float = 5.0
    ) -> None:
        self._args = (schedules, queue, settings)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="schedules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                fire_due(*self._args)
            except Exception:  # the ticker must outlive a bad tick; the next one retries
                log.exception("firing schedules failed")
            self._stop.wait(self._interval)
