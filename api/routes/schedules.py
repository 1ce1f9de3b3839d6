"""Recurring jobs: create, list, show and cancel schedules."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response, url_for
from quart_schema import document_response, validate_request

from api.contract import answers, links
from api.extensions import jobs, store
from api.responses import json_response
from api.schemas import DurationIn, NoContent, StrictModel, TimeIn
from tsdb.timefmt import parse_timestamp
from workers import registry
from workers.schedules import CRON_PATTERN, Schedule, ScheduleStore, check_timing

__all__ = ["bp"]

bp = Blueprint("schedules", __name__, url_prefix="/v1")


class ScheduleCreate(StrictModel):
    """A job to run again and again: on a cron expression or every so often."""

    @staticmethod
    def openapi(schema: dict[str, Any], definitions: dict[str, Any]) -> None:
        """Completes the generated schema (see :func:`api.openapi`)."""
        _timing(schema, definitions)

    type: str
    params: dict[str, Any] = Field(description="The type's params (see /v1/job-types)")
    cron: str | None = Field(
        None,
        pattern=CRON_PATTERN,
        description="minute hour day month weekday (numbers, *, ranges, lists, steps), in UTC",
        examples=["0 3 * * *"],
    )
    every: DurationIn | None = Field(None, description="Or an interval, at least 10s")
    start_at: TimeIn | None = Field(None, description="First run (default: the next due time)")


def _timing(schema: dict[str, Any], definitions: dict[str, Any]) -> None:
    """Each type with its own params, and exactly one of cron and every."""
    registry.params_by_type(schema, definitions, "#/components/schemas/{model}")
    by_type = schema.pop("oneOf")
    schema["allOf"] = [
        {"oneOf": by_type},
        {
            "oneOf": [
                {"required": ["cron"], "properties": {"cron": {"type": "string"}}},
                {"required": ["every"], "properties": {"every": {"not": {"type": "null"}}}},
            ]
        },
    ]
    schema["examples"] = [
        {"type": "stats", "params": {"keys": ["temp:austin"], "from": "-1d"}, "every": "1h"}
    ]


class ScheduleOut(BaseModel):
    """A schedule as the API shows it."""

    id: str
    type: str
    params: dict[str, Any]
    cron: str | None
    every_ms: int | None
    next_run: int
    created_at: int
    runs: int
    last_job: str | None
    last_error: str | None
    jobs: list[str]
    links: dict[str, Any]


class SchedulesOut(BaseModel):
    schedules: list[ScheduleOut]


def _schedules() -> ScheduleStore:
    return ScheduleStore(jobs().connection)


def _document(schedule: Schedule) -> dict[str, Any]:
    body = asdict(schedule)
    body["links"] = {
        "self": url_for("schedules.get_schedule", schedule_id=schedule.id),
        "jobs": [url_for("jobs.get_job", job_id=j) for j in schedule.jobs],
    }
    return body


@bp.post("/schedules")
@answers(404, 409)
@links(
    201,
    GetSchedule=("get_schedule", {"schedule_id": "$response.body#/id"}),
    DeleteSchedule=("delete_schedule", {"schedule_id": "$response.body#/id"}),
)
@validate_request(ScheduleCreate)
@document_response(ScheduleOut, 201)
async def create_schedule(data: ScheduleCreate) -> Response:
    """Run a job type on a schedule; params are checked now and again at every run."""
    kind = registry.get(data.type)
    every_ms = check_timing(data.cron, data.every)
    params = kind.validate(data.params)
    await kind.prepare(params, store())  # refuse what would fail at every run
    start = None if data.start_at is None else parse_timestamp(data.start_at, "start_at")
    schedule = await asyncio.to_thread(
        _schedules().create,
        kind.name,
        params.model_dump(mode="json", by_alias=True, exclude_unset=True),
        cron=data.cron,
        every_ms=every_ms,
        start_at=start,
    )
    location = url_for("schedules.get_schedule", schedule_id=schedule.id)
    return json_response(_document(schedule), 201, headers={"Location": location})


@bp.get("/schedules")
@document_response(SchedulesOut)
async def list_schedules() -> Response:
    """Every schedule, soonest next run first."""
    schedules = await asyncio.to_thread(_schedules().all)
    return json_response({"schedules": [_document(s) for s in schedules]})


@bp.get("/schedules/<schedule_id>")
@document_response(ScheduleOut)
async def get_schedule(schedule_id: str) -> Response:
    """A schedule: its job, timing, next run, and the jobs it submitted lately."""
    return json_response(_document(await asyncio.to_thread(_schedules().get, schedule_id)))


@bp.delete("/schedules/<schedule_id>")
@document_response(NoContent, 204)
async def delete_schedule(schedule_id: str) -> Response:
    """Stop a schedule (jobs it already submitted are not affected)."""
    await asyncio.to_thread(_schedules().delete, schedule_id)
    return Response(status=204)
