"""Every endpoint of the API (but bulk writes) as a :class:`~client._base.Call`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from tsapi_client._base import (
    JSON,
    Call,
    DurationLike,
    Filters,
    TimeLike,
    dumps,
    filter_list,
    json_call,
    parse_bytes,
    parse_json,
    parse_nothing,
    parse_stream,
    to_duration,
    to_time,
)
from tsapi_client.models import (
    Aggregation,
    DuplicatePolicy,
    Encoding,
    Health,
    Job,
    JobStatus,
    JobType,
    LatestValue,
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


def key_path(key: str) -> str:
    """A series key as a path segment."""
    return quote(key, safe=":")


# -- health, series ----------------------------------------------------------------------------


def health() -> Call[Health]:
    return Call("GET", "/readyz", lambda r: Health.from_json(parse_json(r)))


def _series_options(
    labels: Mapping[str, str] | None,
    retention: DurationLike | None,
    duplicate_policy: DuplicatePolicy | str | None,
    chunk_size: int | None,
    ignore_max_time_diff: DurationLike | None,
    ignore_max_val_diff: float | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if labels is not None:
        body["labels"] = dict(labels)
    if retention is not None:
        body["retention"] = to_duration(retention)
    if duplicate_policy is not None:
        body["duplicate_policy"] = str(DuplicatePolicy(duplicate_policy))
    if chunk_size is not None:
        body["chunk_size"] = chunk_size
    if ignore_max_time_diff is not None:
        body["ignore_max_time_diff"] = to_duration(ignore_max_time_diff)
    if ignore_max_val_diff is not None:
        body["ignore_max_val_diff"] = ignore_max_val_diff
    return body


def create_series(
    key: str,
    labels: Mapping[str, str] | None = None,
    retention: DurationLike | None = None,
    duplicate_policy: DuplicatePolicy | str | None = None,
    chunk_size: int | None = None,
    encoding: Encoding | str | None = None,
    ignore_max_time_diff: DurationLike | None = None,
    ignore_max_val_diff: float | None = None,
) -> Call[Series]:
    body = {"key": key} | _series_options(
        labels, retention, duplicate_policy, chunk_size, ignore_max_time_diff, ignore_max_val_diff
    )
    if encoding is not None:
        body["encoding"] = str(Encoding(encoding))
    return json_call("POST", "/v1/series", body, lambda r: Series.from_json(parse_json(r)))


def get_series(key: str) -> Call[Series]:
    return Call("GET", f"/v1/series/{key_path(key)}", lambda r: Series.from_json(parse_json(r)))


def alter_series(
    key: str,
    labels: Mapping[str, str] | None = None,
    retention: DurationLike | None = None,
    duplicate_policy: DuplicatePolicy | str | None = None,
    chunk_size: int | None = None,
    ignore_max_time_diff: DurationLike | None = None,
    ignore_max_val_diff: float | None = None,
) -> Call[Series]:
    body = _series_options(
        labels, retention, duplicate_policy, chunk_size, ignore_max_time_diff, ignore_max_val_diff
    )
    return json_call(
        "PATCH", f"/v1/series/{key_path(key)}", body, lambda r: Series.from_json(parse_json(r))
    )


def delete_series(key: str) -> Call[None]:
    return Call("DELETE", f"/v1/series/{key_path(key)}", parse_nothing)


SeriesPage = tuple[list[SeriesSummary], str | None]


def list_series_page(filters: Filters | None, limit: int, after: str | None) -> Call[SeriesPage]:
    params = [("filter", f) for f in filter_list(filters)] if filters else []
    params.append(("limit", str(limit)))
    if after is not None:
        params.append(("after", after))

    def parse(response: httpx.Response) -> SeriesPage:
        body = parse_json(response)
        return [SeriesSummary.from_json(s) for s in body["series"]], body.get("next")

    return Call("GET", "/v1/series", parse, params)


# -- points ------------------------------------------------------------------------------------


def _point(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return {"t": to_time(item["t"]), "v": item["v"]}
    t, v = item
    return {"t": to_time(t), "v": v}


def write_points(
    key: str,
    points: Iterable[Any],
    create: bool = False,
    labels: Mapping[str, str] | None = None,
) -> Call[WriteResult]:
    items = [_point(p) for p in points]
    body: Any = {"points": items, "labels": dict(labels)} if labels else items
    params = [("create", "true")] if create else []
    return Call(
        "POST",
        f"/v1/series/{key_path(key)}/points",
        lambda r: WriteResult.from_json(parse_json(r)),
        params,
        dumps(body),
        JSON,
    )


def put_point(key: str, t: TimeLike, v: float) -> Call[bool]:
    return json_call(
        "PUT",
        f"/v1/series/{key_path(key)}/points/{quote(str(to_time(t)), safe='')}",
        {"v": v},
        lambda r: r.status_code == 201,
    )


def delete_points(key: str, start: TimeLike, end: TimeLike) -> Call[int]:
    params = [("from", str(to_time(start))), ("to", str(to_time(end)))]
    return Call(
        "DELETE",
        f"/v1/series/{key_path(key)}/points",
        lambda r: int(parse_json(r)["deleted"]),
        params,
    )


def read_range(
    key: str, params: list[tuple[str, str]], limit: int | None = None, cursor: int | None = None
) -> Call[Points]:
    if limit is not None:
        params = [*params, ("limit", str(limit))]
    if cursor is not None:
        params = [*params, ("cursor", str(cursor))]
    return Call(
        "GET",
        f"/v1/series/{key_path(key)}/points",
        lambda r: Points.from_json(parse_stream(r)),
        params,
    )


def query(
    filters: Filters,
    params: list[tuple[str, str]],
    group_by: str | None = None,
    reduce: Reducer | str | None = None,
    with_labels: bool = True,
    selected_labels: Sequence[str] | None = None,
) -> Call[QueryResult]:
    out = [("filter", f) for f in filter_list(filters)] + params
    if group_by is not None:
        out.append(("group_by", group_by))
    if reduce is not None:
        out.append(("reduce", str(Reducer(reduce))))
    if not with_labels:
        out.append(("with_labels", "false"))
    out += [("selected_labels", name) for name in selected_labels or ()]
    return Call("GET", "/v1/query", lambda r: QueryResult.from_json(parse_stream(r)), out)


def latest(filters: Filters, latest: bool = False) -> Call[list[LatestValue]]:
    params = [("filter", f) for f in filter_list(filters)]
    if latest:
        params.append(("latest", "true"))
    return Call(
        "GET",
        "/v1/latest",
        lambda r: [LatestValue.from_json(s) for s in parse_json(r)["series"]],
        params,
    )


def label_names(filters: Filters | None) -> Call[list[str]]:
    params = [("filter", f) for f in filter_list(filters)] if filters else []
    return Call("GET", "/v1/labels", lambda r: list(parse_json(r)["labels"]), params)


def label_values(name: str, filters: Filters | None) -> Call[list[str]]:
    params = [("filter", f) for f in filter_list(filters)] if filters else []
    return Call(
        "GET",
        f"/v1/labels/{quote(name, safe='')}/values",
        lambda r: list(parse_json(r)["values"]),
        params,
    )


def label_counts(name: str, filters: Filters | None) -> Call[dict[str, int]]:
    params = [("filter", f) for f in filter_list(filters)] if filters else []
    params.append(("with_counts", "true"))
    return Call(
        "GET",
        f"/v1/labels/{quote(name, safe='')}/values",
        lambda r: {str(k): int(v) for k, v in parse_json(r)["counts"].items()},
        params,
    )


def delete_points_matching(
    filters: Filters, start: TimeLike, end: TimeLike
) -> Call[dict[str, int]]:
    params = [("filter", f) for f in filter_list(filters)]
    params += [("from", str(to_time(start))), ("to", str(to_time(end)))]
    return Call(
        "DELETE",
        "/v1/points",
        lambda r: {k: int(n) for k, n in parse_json(r)["deleted"].items()},
        params,
    )


# -- rules -------------------------------------------------------------------------------------


def create_rule(
    key: str,
    dest: str,
    agg: Aggregation | str,
    bucket: DurationLike,
    align: TimeLike = 0,
    create_dest: bool = True,
    dest_labels: Mapping[str, str] | None = None,
) -> Call[Rule]:
    body = {
        "dest": dest,
        "agg": str(Aggregation(agg)),
        "bucket": to_duration(bucket),
        "align": to_time(align),
        "create_dest": create_dest,
        "dest_labels": dict(dest_labels or {}),
    }
    return json_call(
        "POST", f"/v1/series/{key_path(key)}/rules", body, lambda r: Rule.from_json(parse_json(r))
    )


def list_rules(key: str) -> Call[list[Rule]]:
    return Call(
        "GET",
        f"/v1/series/{key_path(key)}/rules",
        lambda r: [Rule.from_json(x) for x in parse_json(r)["rules"]],
    )


def delete_rule(key: str, dest: str) -> Call[None]:
    return Call("DELETE", f"/v1/series/{key_path(key)}/rules/{key_path(dest)}", parse_nothing)


# -- rollup tiers ------------------------------------------------------------------------------

TierLike = Mapping[str, Any] | tuple[DurationLike, DurationLike | None] | DurationLike
"""A tier: ``{"bucket": "1m", "retention": "90d"}``, ``("1m", "90d")``, or just ``"1d"``."""


def tier_body(tier: TierLike) -> dict[str, Any]:
    """A tier as the API takes it (durations as numbers of ms or text like ``90d``)."""
    if isinstance(tier, Mapping):
        bucket, retention = tier["bucket"], tier.get("retention")
    elif isinstance(tier, tuple):
        bucket, retention = tier
    else:
        bucket, retention = tier, None
    body: dict[str, Any] = {"bucket": to_duration(bucket)}
    if retention is not None:
        body["retention"] = to_duration(retention) if retention not in (0, "0") else 0
    return body


def get_rollups(key: str) -> Call[Rollups]:
    return Call(
        "GET", f"/v1/series/{key_path(key)}/rollups", lambda r: Rollups.from_json(parse_json(r))
    )


def set_rollups(key: str, tiers: Iterable[TierLike]) -> Call[Rollups]:
    return json_call(
        "PUT",
        f"/v1/series/{key_path(key)}/rollups",
        {"tiers": [tier_body(t) for t in tiers]},
        lambda r: Rollups.from_json(parse_json(r)),
    )


def delete_rollups(key: str) -> Call[None]:
    return Call("DELETE", f"/v1/series/{key_path(key)}/rollups", parse_nothing)


def _policies(response: httpx.Response) -> list[RollupPolicy]:
    return [RollupPolicy.from_json(p) for p in parse_json(response)["policies"]]


def get_rollup_policies() -> Call[list[RollupPolicy]]:
    return Call("GET", "/v1/rollups", _policies)


def set_rollup_policies(policies: Iterable[Mapping[str, Any]]) -> Call[dict[str, Any]]:
    body = {
        "policies": [
            {
                "name": p["name"],
                "filter": filter_list(p["filter"]),
                "tiers": [tier_body(t) for t in p["tiers"]],
            }
            for p in policies
        ]
    }
    return json_call("PUT", "/v1/rollups", body, parse_json)


def delete_rollup_policies() -> Call[None]:
    return Call("DELETE", "/v1/rollups", parse_nothing)


# -- jobs --------------------------------------------------------------------------------------


def job_params(params: Mapping[str, Any] | None, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Params from a dict and keywords (``from_`` is ``from``; times and durations converted)."""
    out = dict(params or {})
    for name, value in extra.items():
        out[name[:-1] if name.endswith("_") else name] = value
    for name in ("from", "to"):
        if out.get(name) is not None:
            out[name] = to_time(out[name])
    if isinstance(out.get("bucket"), timedelta):
        out["bucket"] = to_duration(out["bucket"])
    return out


def _job(response: httpx.Response) -> Job:
    return Job.from_json(parse_json(response))


def submit_job(
    job_type: str, params: dict[str, Any], depends_on: Sequence[Job | str] = ()
) -> Call[Job]:
    body: dict[str, Any] = {"type": job_type, "params": params}
    if depends_on:
        body["depends_on"] = [job_id(j) for j in depends_on]
    return json_call("POST", "/v1/jobs", body, _job)


def job_id(job: Job | str) -> str:
    return job.id if isinstance(job, Job) else job


def get_job(job: Job | str) -> Call[Job]:
    return Call("GET", f"/v1/jobs/{quote(job_id(job), safe='')}", _job)


JobPage = tuple[list[Job], int | None]


def list_jobs_page(
    status: JobStatus | str | None, job_type: str | None, limit: int, cursor: int | None
) -> Call[JobPage]:
    params = [("limit", str(limit))]
    if status is not None:
        params.append(("status", str(JobStatus(status))))
    if job_type is not None:
        params.append(("type", job_type))
    if cursor is not None:
        params.append(("cursor", str(cursor)))

    def parse(response: httpx.Response) -> JobPage:
        body = parse_json(response)
        return [Job.from_json(j) for j in body["jobs"]], body.get("next")

    return Call("GET", "/v1/jobs", parse, params)


def cancel_job(job: Job | str) -> Call[Job]:
    return Call("POST", f"/v1/jobs/{quote(job_id(job), safe='')}/cancel", _job)


def job_result(job: Job | str) -> Call[Any]:
    return Call("GET", f"/v1/jobs/{quote(job_id(job), safe='')}/result", parse_json)


def job_file(job: Job | str, name: str) -> Call[bytes]:
    return Call(
        "GET", f"/v1/jobs/{quote(job_id(job), safe='')}/files/{quote(name, safe='')}", parse_bytes
    )


def job_types() -> Call[list[JobType]]:
    return Call(
        "GET", "/v1/job-types", lambda r: [JobType.from_json(t) for t in parse_json(r)["types"]]
    )


def create_schedule(
    job_type: str,
    params: dict[str, Any],
    cron: str | None,
    every: DurationLike | None,
    start_at: TimeLike | None,
) -> Call[Schedule]:
    body: dict[str, Any] = {"type": job_type, "params": params}
    if cron is not None:
        body["cron"] = cron
    if every is not None:
        body["every"] = to_duration(every)
    if start_at is not None:
        body["start_at"] = to_time(start_at)
    return json_call("POST", "/v1/schedules", body, _schedule)


def _schedule(response: httpx.Response) -> Schedule:
    return Schedule.from_json(parse_json(response))


def list_schedules() -> Call[list[Schedule]]:
    return Call(
        "GET",
        "/v1/schedules",
        lambda r: [Schedule.from_json(x) for x in parse_json(r)["schedules"]],
    )


def schedule_id(schedule: Schedule | str) -> str:
    return schedule.id if isinstance(schedule, Schedule) else schedule


def get_schedule(schedule: Schedule | str) -> Call[Schedule]:
    return Call("GET", f"/v1/schedules/{quote(schedule_id(schedule), safe='')}", _schedule)


def delete_schedule(schedule: Schedule | str) -> Call[None]:
    return Call("DELETE", f"/v1/schedules/{quote(schedule_id(schedule), safe='')}", parse_nothing)


class Poller:
    """The waits between polls of a job: from ``poll`` up to ``max_poll`` seconds, growing
    by half each time the job has not moved, back to ``poll`` when it has."""

    def __init__(self, poll: float, max_poll: float, timeout: float | None, now: float) -> None:
        self.poll, self.max_poll, self.delay = poll, max_poll, poll
        self.deadline = None if timeout is None else now + timeout
        self.seen: tuple[str, int, str] | None = None

    def changed(self, job: Job) -> bool:
        """Whether the job moved since the last poll (and so the callback should hear of it)."""
        state = (str(job.status), job.progress.percent, job.progress.message)
        if state == self.seen:
            self.delay = min(self.delay * 1.5, self.max_poll)
            return False
        self.seen, self.delay = state, self.poll
        return True

    def next_delay(self, now: float) -> float | None:
        """Seconds to sleep before the next poll; None once the deadline has passed."""
        if self.deadline is None:
            return self.delay
        left = self.deadline - now
        return None if left <= 0 else min(self.delay, left)
