"""The asyncio client, on ``httpx.AsyncClient``.

This file is the source of ``sync.py`` (the sync :class:`Client`), which
``client/scripts/unasync.py`` writes from it: edit this one, then run the script.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from tenacity import AsyncRetrying

from tsapi_client import _base as base
from tsapi_client import _bulk as bulk
from tsapi_client import _calls as calls
from tsapi_client._base import Call, DurationLike, Filters, RetryPolicy, ServerBusy, TimeLike
from tsapi_client._io_async import maybe_await, run_blocking, sleep
from tsapi_client.errors import ApiError, JobCanceled, JobFailed, WaitTimeout
from tsapi_client.models import (
    Aggregation,
    BucketTimestamp,
    BulkResult,
    DuplicatePolicy,
    Encoding,
    FillPolicy,
    Function,
    Health,
    IngestSummary,
    Job,
    JobStatus,
    JobType,
    LatestValue,
    Point,
    Points,
    QueryResult,
    Reducer,
    RollupPolicy,
    Rollups,
    Rule,
    Schedule,
    Series,
    SeriesSummary,
    WriteResult,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """A tsapi client (for asyncio).

    ``base_url`` defaults to ``TSAPI_URL`` (else ``http://127.0.0.1:5000``) and ``api_key``
    to ``TSAPI_API_KEY`` (sent as a bearer token). Refused connections and ``429`` and ``503``
    answers are retried ``retries`` times with exponential backoff from ``backoff`` seconds,
    waiting at least what ``Retry-After`` asks (at most ``max_wait``). Error
    answers raise :class:`~tsapi_client.errors.ApiError` subclasses carrying the problem details;
    an unreachable server raises :class:`~tsapi_client.errors.ConnectionFailed`.

    Use it in an ``async with`` block, or call and await :meth:`aclose` when done.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_wait: float = 5.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base.base_url(base_url)
        self.retry = RetryPolicy(retries=retries, backoff=backoff, max_wait=max_wait)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=base.headers(api_key, headers),
            timeout=timeout,
            transport=transport,
        )

    # -- plumbing ------------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def call(self, call: Call[T]) -> T:
        """Send one :class:`~client._base.Call` (retrying as configured) and parse the answer."""
        retrying = AsyncRetrying(**self.retry.tenacity_args())
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._http.request(
                        call.method,
                        call.path,
                        params=tuple(call.params),
                        content=call.body,
                        headers=call.request_headers(),
                    )
                    if response.status_code in base.RETRIED_STATUSES:
                        raise ServerBusy(response)
        except ServerBusy as busy:
            response = busy.response
        except httpx.TransportError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise base.transport_failure(self.base_url, exc, attempts) from None
        return call.parse(base.check(response))

    # -- health and series ---------------------------------------------------------------------

    async def health(self) -> Health:
        """Readiness: Redis reachable with the TimeSeries module (``Unavailable`` if not)."""
        return await self.call(calls.health())

    async def create_series(
        self,
        key: str,
        labels: Mapping[str, str] | None = None,
        *,
        retention: DurationLike | None = None,
        duplicate_policy: DuplicatePolicy | str | None = None,
        chunk_size: int | None = None,
        encoding: Encoding | str | None = None,
        ignore_max_time_diff: DurationLike | None = None,
        ignore_max_val_diff: float | None = None,
    ) -> Series:
        """Create a series (``Conflict`` if it exists)."""
        return await self.call(
            calls.create_series(
                key,
                labels,
                retention,
                duplicate_policy,
                chunk_size,
                encoding,
                ignore_max_time_diff,
                ignore_max_val_diff,
            )
        )

    async def get_series(self, key: str) -> Series:
        """A series: labels, sample count, first/last timestamps, retention, rules."""
        return await self.call(calls.get_series(key))

    async def list_series(
        self, filters: Filters | None = None, *, limit: int | None = None, page_size: int = 1000
    ) -> list[SeriesSummary]:
        """Series sorted by key (all, or those matching every label filter), all pages."""
        out: list[SeriesSummary] = []
        after: str | None = None
        while limit is None or len(out) < limit:
            size = page_size if limit is None else min(page_size, limit - len(out))
            page, after = await self.call(calls.list_series_page(filters, size, after))
            out += page
            if after is None:
                break
        return out

    async def alter_series(
        self,
        key: str,
        *,
        labels: Mapping[str, str] | None = None,
        retention: DurationLike | None = None,
        duplicate_policy: DuplicatePolicy | str | None = None,
        chunk_size: int | None = None,
        ignore_max_time_diff: DurationLike | None = None,
        ignore_max_val_diff: float | None = None,
    ) -> Series:
        """Change a series; ``labels`` replaces the whole label set."""
        return await self.call(
            calls.alter_series(
                key,
                labels,
                retention,
                duplicate_policy,
                chunk_size,
                ignore_max_time_diff,
                ignore_max_val_diff,
            )
        )

    async def delete_series(self, key: str) -> None:
        """Delete a series and its samples."""
        await self.call(calls.delete_series(key))

    # -- writing -------------------------------------------------------------------------------

    async def write(
        self,
        key: str,
        t: TimeLike,
        v: float,
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Write one point (``create`` makes the series, with ``labels``, if missing)."""
        return await self.call(calls.write_points(key, [(t, v)], create, labels))

    async def write_points(
        self,
        key: str,
        points: Iterable[Any],
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Write ``(t, v)`` pairs or ``{"t", "v"}`` dicts to one series, all or nothing if any
        is malformed."""
        return await self.call(calls.write_points(key, points, create, labels))

    async def write_many(
        self,
        points: Iterable[Any],
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
        atomic: bool = False,
        batch_size: int = bulk.MAX_POINTS_PER_REQUEST,
    ) -> BulkResult:
        """Write ``(key, t, v)`` tuples or ``{"key", "t", "v"}`` dicts to many series at once.

        ``create`` makes missing series (with ``labels``); ``atomic`` writes nothing unless
        every point is valid (and sends everything in one request); otherwise ``batch_size``
        points go per request. Refused points raise an ``ApiError`` with ``rejected``
        (``index`` counting over all the points given).
        """
        return await self._bulk(bulk.plan_rows(points, create, labels, atomic, batch_size))

    async def write_arrays(
        self,
        key: str,
        t: Any,
        v: Any,
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
        atomic: bool = False,
        batch_size: int = bulk.MAX_POINTS_PER_REQUEST,
    ) -> BulkResult:
        """Write two arrays (numpy or lists): times (epoch ms, datetime64...) and values."""
        columns = [bulk.Columns(key, bulk.time_array(t), bulk.value_array(v))]
        return await self._bulk(bulk.plan_columns(columns, create, labels, atomic, batch_size))

    async def write_frame(
        self,
        frame: pd.DataFrame,
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
        atomic: bool = False,
        batch_size: int = bulk.MAX_POINTS_PER_REQUEST,
    ) -> BulkResult:
        """Write a pandas DataFrame: wide (a time index, one column per series key; NaN cells
        skipped) or long (``key``, ``t``, ``v`` columns)."""
        columns = bulk.frame_columns(frame)
        return await self._bulk(bulk.plan_columns(columns, create, labels, atomic, batch_size))

    async def write_file(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        create: bool = False,
        labels: Mapping[str, str] | None = None,
        atomic: bool = False,
        precision: str = "ns",
        on_progress: Callable[[int, int], object] | None = None,
        chunk_bytes: int = bulk.FILE_CHUNK_BYTES,
    ) -> IngestSummary:
        """Write a CSV, InfluxDB line-protocol or JSON file (``.gz`` too), in several requests
        when it is large.

        Points the server refuses do not stop the upload: they are in the summary's
        ``rejected`` with their line in the file. Requests carry about ``chunk_bytes`` of the
        file each (whole lines; a CSV header is repeated), unless ``atomic``;
        ``on_progress(done, total)`` is called with bytes of the file after each one.
        """
        fmt = bulk.file_format(Path(path), format)
        size = await run_blocking(os.path.getsize, path)
        tally = bulk.IngestTally()
        chunks = bulk.file_chunks(path, fmt, create, labels, atomic, precision, chunk_bytes)
        while (chunk := await run_blocking(next, chunks, None)) is not None:
            try:
                tally.add(await self.call(chunk.call))
            except ApiError as exc:
                tally.add_rejected(exc, chunk.line_shift)
            if on_progress is not None:
                on_progress(chunk.position, size)
        return tally.summary(size)

    async def _bulk(self, plan: bulk.BulkPlan) -> BulkResult:
        results: list[BulkResult] = []
        for call, offset in zip(plan.calls, plan.offsets, strict=True):
            try:
                results.append(await self.call(call))
            except ApiError as exc:
                raise bulk.shifted(exc, offset, sum(r.written for r in results)) from None
        return bulk.merge_bulk(results, plan.keys, plan.offsets)

    async def put_point(self, key: str, t: TimeLike, v: float) -> bool:
        """Set the value at ``t`` whatever the duplicate policy; True if the point is new."""
        return await self.call(calls.put_point(key, t, v))

    async def delete_points(self, key: str, start: TimeLike, end: TimeLike) -> int:
        """Delete the points in ``[start, end]`` (``"-"``/``"+"`` for the ends); how many went."""
        return await self.call(calls.delete_points(key, start, end))

    # -- reading -------------------------------------------------------------------------------

    async def range(
        self,
        key: str,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        agg: Aggregation | str | None = None,
        bucket: DurationLike | None = None,
        align: TimeLike | None = None,
        bucket_timestamp: BucketTimestamp | str | None = None,
        empty: bool = False,
        filter_by_value: tuple[float, float] | None = None,
        filter_by_ts: Iterable[TimeLike] | None = None,
        count: int | None = None,
        reverse: bool = False,
        latest: bool = False,
        max_points: int | None = None,
        fill: FillPolicy | str | None = None,
        fn: Function | str | None = None,
        tier: str | None = None,
    ) -> Points:
        """Points of a series in ``[start, end]`` as a list of ``(t, v)``, raw or aggregated.

        ``agg`` + ``bucket`` aggregate per bucket (``empty`` keeps empty ones, ``fill`` fills
        them); ``max_points`` lets the API pick the bucket (the answer's ``aggregation`` and
        ``bucket_ms`` say which); ``fn`` applies ``rate``, ``derivative``, ``delta`` or
        ``cumsum``. Aggregated reads come from the series' rollup tiers where they give the
        same answer (``tiers`` of the answer says which); ``tier="raw"`` reads raw samples.
        """
        params = base.range_params(
            start,
            end,
            agg=agg,
            bucket=bucket,
            align=align,
            bucket_timestamp=bucket_timestamp,
            empty=empty,
            filter_by_value=filter_by_value,
            filter_by_ts=filter_by_ts,
            count=count,
            reverse=reverse,
            latest=latest,
            max_points=max_points,
            fill=fill,
            fn=fn,
            tier=tier,
        )
        return await self.call(calls.read_range(key, params))

    async def iter_range(
        self,
        key: str,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        page_size: int = 100_000,
        **options: Any,
    ) -> AsyncIterator[Point]:
        """The points of :meth:`range`, fetched a page of ``page_size`` at a time."""
        params = base.range_params(start, end, **options)
        cursor: int | None = None
        while True:
            page = await self.call(calls.read_range(key, params, page_size, cursor))
            for point in page:
                yield point
            if page.next is None:
                return
            cursor = page.next

    async def range_frame(self, key: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """:meth:`range` as a DataFrame: a UTC time index ``t`` and a column named ``key``."""
        return bulk.points_frame({key: await self.range(key, *args, **kwargs)})

    async def query(
        self,
        filters: Filters,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        group_by: str | None = None,
        reduce: Reducer | str | None = None,
        with_labels: bool = True,
        selected_labels: Sequence[str] | None = None,
        **range_options: Any,
    ) -> QueryResult:
        """Ranges of every series the label filters select, optionally grouped by a label and
        reduced; ``range_options`` are those of :meth:`range`."""
        params = base.range_params(start, end, **range_options)
        return await self.call(
            calls.query(filters, params, group_by, reduce, with_labels, selected_labels)
        )

    async def query_frame(self, filters: Filters, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """:meth:`query` as a wide DataFrame: a UTC time index and one column per series."""
        return bulk.points_frame(
            {s.key: s.points for s in await self.query(filters, *args, **kwargs)}
        )

    async def latest(self, filters: Filters, *, latest: bool = False) -> list[LatestValue]:
        """The newest sample of every series the filters select."""
        return await self.call(calls.latest(filters, latest))

    async def labels(self, filters: Filters | None = None) -> list[str]:
        """Every label name in use (among the series the filters select, if given)."""
        return await self.call(calls.label_names(filters))

    async def label_values(self, name: str, filters: Filters | None = None) -> list[str]:
        """Every value the label ``name`` takes (among the series the filters select)."""
        return await self.call(calls.label_values(name, filters))

    async def label_counts(self, name: str, filters: Filters | None = None) -> dict[str, int]:
        """How many series have each value of the label ``name`` (among those the filters
        select), by value."""
        return await self.call(calls.label_counts(name, filters))

    async def delete_points_matching(
        self, filters: Filters, start: TimeLike, end: TimeLike
    ) -> dict[str, int]:
        """Delete ``[start, end]`` in every series the filters select; how many went, per key."""
        return await self.call(calls.delete_points_matching(filters, start, end))

    # -- rollup tiers --------------------------------------------------------------------------

    async def rollups(self, key: str) -> Rollups:
        """The rollup tiers of a series: what each covers, its size, whether a backfill runs."""
        return await self.call(calls.get_rollups(key))

    async def set_rollups(self, key: str, tiers: Iterable[calls.TierLike]) -> Rollups:
        """Give a series rollup tiers, e.g. ``[("1m", "90d"), ("1h", "2y"), "1d"]`` (bucket,
        retention; none: forever). They replace its tiers; ``backfill_job`` of the answer is
        the job filling them from the history, if it has any."""
        return await self.call(calls.set_rollups(key, tiers))

    async def delete_rollups(self, key: str) -> None:
        """Remove a series' rollup tiers (reads use raw samples)."""
        await self.call(calls.delete_rollups(key))

    async def rollup_policies(self) -> list[RollupPolicy]:
        """The rollup policies: tiers by label filter."""
        return await self.call(calls.get_rollup_policies())

    async def set_rollup_policies(self, policies: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Replace the rollup policies, each ``{"name", "filter", "tiers"}``, and apply them:
        the answer lists the series ``updated`` and ``removed`` and the ``backfill_job``."""
        return await self.call(calls.set_rollup_policies(policies))

    async def delete_rollup_policies(self) -> None:
        """Remove every policy, and the tiers policies gave."""
        await self.call(calls.delete_rollup_policies())

    # -- rules ---------------------------------------------------------------------------------

    async def create_rule(
        self,
        key: str,
        dest: str,
        agg: Aggregation | str,
        bucket: DurationLike,
        *,
        align: TimeLike = 0,
        create_dest: bool = True,
        dest_labels: Mapping[str, str] | None = None,
    ) -> Rule:
        """Compact ``key`` into ``dest`` with ``agg`` per ``bucket`` (``dest`` made if missing)."""
        return await self.call(
            calls.create_rule(key, dest, agg, bucket, align, create_dest, dest_labels)
        )

    async def list_rules(self, key: str) -> list[Rule]:
        """The compaction rules out of a series."""
        return await self.call(calls.list_rules(key))

    async def delete_rule(self, key: str, dest: str) -> None:
        """Remove the rule from ``key`` into ``dest`` (``dest`` keeps its data)."""
        await self.call(calls.delete_rule(key, dest))

    # -- jobs ----------------------------------------------------------------------------------

    async def submit_job(
        self,
        type: str,
        params: Mapping[str, Any] | None = None,
        *,
        depends_on: Sequence[Job | str] = (),
        **kw: Any,
    ) -> Job:
        """Submit a job (``plot``, ``stats``, ``downsample``... see :meth:`job_types`); params
        as a dict and/or keywords (``from_=`` for ``from``). With ``depends_on`` it waits for
        those jobs to finish first."""
        return await self.call(calls.submit_job(type, calls.job_params(params, kw), depends_on))

    async def get_job(self, job: Job | str) -> Job:
        """A job's current state."""
        return await self.call(calls.get_job(job))

    async def list_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        type: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """Jobs, newest first, up to ``limit``."""
        out: list[Job] = []
        cursor: int | None = None
        while len(out) < limit:
            page, cursor = await self.call(
                calls.list_jobs_page(status, type, min(500, limit - len(out)), cursor)
            )
            out += page
            if cursor is None:
                break
        return out

    async def wait_job(
        self,
        job: Job | str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a limit in seconds in both clients
        poll: float = 0.1,
        max_poll: float = 1.0,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Poll until the job ends, with backoff; the finished job.

        ``on_progress(job)`` hears of every change of status or progress. Raises
        :class:`JobFailed` (with the job's error), :class:`JobCanceled`, or
        :class:`WaitTimeout` after ``timeout`` seconds.
        """
        poller = calls.Poller(poll, max_poll, timeout, time.monotonic())
        current = await self.get_job(job)
        while True:
            if poller.changed(current) and on_progress is not None:
                await maybe_await(on_progress(current))
            if current.status == JobStatus.FINISHED:
                return current
            if current.status == JobStatus.FAILED:
                raise JobFailed(current)
            if current.status == JobStatus.CANCELED:
                raise JobCanceled(current)
            delay = poller.next_delay(time.monotonic())
            if delay is None:
                assert timeout is not None
                raise WaitTimeout(current, timeout)
            await sleep(delay)
            current = await self.get_job(current)

    async def cancel_job(self, job: Job | str) -> Job:
        """Cancel a queued job, or stop a running one at its next step (``Conflict`` if ended)."""
        return await self.call(calls.cancel_job(job))

    async def job_result(self, job: Job | str) -> Any:
        """The JSON result of a finished job (``Conflict`` until it has finished)."""
        return await self.call(calls.job_result(job))

    async def download(
        self, job: Job | str, name: str, dest: str | os.PathLike[str] | None = None
    ) -> bytes:
        """A file of a finished job (``plot.png``, ``plot.html``, ``data.csv``...); also saved
        to ``dest`` when given."""
        data = await self.call(calls.job_file(job, name))
        if dest is not None:
            await run_blocking(Path(dest).write_bytes, data)
        return data

    async def job_types(self) -> list[JobType]:
        """The job types this server runs, with the JSON Schema of their params."""
        return await self.call(calls.job_types())

    # -- schedules -----------------------------------------------------------------------------

    async def create_schedule(
        self,
        type: str,
        params: Mapping[str, Any] | None = None,
        *,
        cron: str | None = None,
        every: DurationLike | None = None,
        start_at: TimeLike | None = None,
        **kw: Any,
    ) -> Schedule:
        """Run a job type on a cron expression (UTC) or ``every`` so often (at least 10 s);
        params as in :meth:`submit_job`, relative times resolved at each run."""
        return await self.call(
            calls.create_schedule(type, calls.job_params(params, kw), cron, every, start_at)
        )

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, soonest next run first."""
        return await self.call(calls.list_schedules())

    async def get_schedule(self, schedule: Schedule | str) -> Schedule:
        """A schedule, with its next run and the jobs it submitted lately."""
        return await self.call(calls.get_schedule(schedule))

    async def delete_schedule(self, schedule: Schedule | str) -> None:
        """Stop a schedule (jobs it submitted are not affected)."""
        await self.call(calls.delete_schedule(schedule))
