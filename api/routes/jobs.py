"""Analysis jobs: submit, watch, list, cancel, and fetch results and files."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field, RootModel
from quart import Blueprint, Response, url_for
from quart_schema import deprecate, document_response, validate_querystring, validate_request

from api.contract import answers, links, responds
from api.extensions import jobs, store
from api.responses import json_response
from api.schemas import Problem, StrictModel
from tsdb.errors import NoSeriesMatch, SeriesNotFound
from workers import registry
from workers.models import JobDocument, JobStatus

__all__ = ["bp", "job_document"]

bp = Blueprint("jobs", __name__, url_prefix="/v1")

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Bokeh pages are self-contained: inline scripts and styles, images from data: URLs.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "connect-src 'none'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
}


class JobSubmit(StrictModel):
    """A job to run: a registered type and its parameters."""

    @staticmethod
    def openapi(schema: dict[str, Any], definitions: dict[str, Any]) -> None:
        """Completes the generated schema (see :func:`api.openapi`): params by type."""
        registry.params_by_type(schema, definitions, "#/components/schemas/{model}")
        schema["examples"] = [{"type": "stats", "params": {"keys": ["temp:austin"]}}]

    type: str = Field(description="A registered job type (see /v1/job-types)")
    params: dict[str, Any] = Field(description="The type's params (see /v1/job-types)")
    depends_on: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Ids of jobs that must finish first (their data may not exist yet)",
    )


class JobListArgs(StrictModel):
    status: JobStatus | None = None
    type: str | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: int | None = Field(None, description="The 'next' value of the previous page")


class JobOut(BaseModel):
    """A job as the API shows it (see README for every field)."""

    id: str
    type: str
    params: dict[str, Any]
    status: JobStatus
    progress: dict[str, Any]
    created_at: int | None
    started_at: int | None
    ended_at: int | None
    worker: str | None
    error: str | None
    cancel_requested: bool
    attempts: int
    files: list[dict[str, Any]]
    depends_on: list[str]
    dependents: list[str]
    links: dict[str, str]


class JobListOut(BaseModel):
    jobs: list[JobOut]
    next: int | None = Field(None, description="Cursor of the next page, if there is one")


class JobTypeOut(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any] = Field(description="JSON Schema of the params")


class JobTypesOut(BaseModel):
    types: list[JobTypeOut]


class JobResult(RootModel[dict[str, Any]]):
    """The JSON result of a finished job (its shape depends on the job type)."""


def job_document(document: JobDocument) -> dict[str, Any]:
    """The JSON shape of a job, with links to itself, its result and files."""
    body = asdict(document)
    links = {"self": url_for("jobs.get_job", job_id=document.id)}
    if document.status == JobStatus.FINISHED:
        links["result"] = url_for("jobs.get_result", job_id=document.id)
    for item in body["files"]:
        item["url"] = url_for("jobs.get_file", job_id=document.id, name=item["name"])
    body["links"] = links
    return body


@bp.post("/jobs")
@answers(404, 409)
@links(
    202,
    GetJob=("get_job", {"job_id": "$response.body#/id"}),
    CancelJob=("cancel_job", {"job_id": "$response.body#/id"}),
    GetResult=("get_result", {"job_id": "$response.body#/id"}),
)
@validate_request(JobSubmit)
@document_response(JobOut, 202)
async def submit_job(data: JobSubmit) -> Response:
    """Submit an analysis job; params are checked against the data before it is queued."""
    kind = registry.get(data.type)
    params = kind.validate(data.params)
    prepare_at_run = False
    try:
        params = await kind.prepare(params, store())
    except (SeriesNotFound, NoSeriesMatch):
        if not data.depends_on:
            raise
        prepare_at_run = True  # a job it waits for may create the series
    payload = params.model_dump(mode="json", by_alias=True)
    document = await asyncio.to_thread(
        jobs().submit,
        kind.name,
        payload,
        depends_on=data.depends_on,
        prepare_at_run=prepare_at_run,
    )
    location = url_for("jobs.get_job", job_id=document.id)
    return json_response(job_document(document), 202, headers={"Location": location})


@bp.get("/jobs")
@validate_querystring(JobListArgs)
@document_response(JobListOut)
async def list_jobs(query_args: JobListArgs) -> Response:
    """Jobs, newest first, optionally by status and type, a page at a time."""
    documents, cursor = await asyncio.to_thread(
        jobs().list,
        status=query_args.status,
        job_type=query_args.type,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    return json_response({"jobs": [job_document(d) for d in documents], "next": cursor})


@bp.get("/jobs/<job_id>")
@links(
    200,
    GetFile=("get_file", {"job_id": "$response.body#/id", "name": "$response.body#/files/0/name"}),
)
@document_response(JobOut)
@document_response(Problem, 404)
async def get_job(job_id: str) -> Response:
    """A job's status, progress, times, worker, error and files."""
    return json_response(job_document(await asyncio.to_thread(jobs().get, job_id)))


@bp.get("/jobs/<job_id>/result")
@document_response(JobResult)
@document_response(Problem, 409)
async def get_result(job_id: str) -> Response:
    """The JSON result of a finished job (409 until it has finished)."""
    return json_response(await asyncio.to_thread(jobs().result, job_id))


@bp.get("/jobs/<job_id>/files/<name>")
@responds(
    200,
    "The file (plot.png, plot.html, data.csv...)",
    {
        t: {"schema": {"type": "string", "format": "binary"}}
        for t in ("image/png", "text/html", "text/csv", "application/json")
    },
)
@document_response(Problem, 409)
async def get_file(job_id: str, name: str) -> Response:
    """One file of a finished job (plot.html, plot.png, data.csv, stats.csv...)."""
    data, content_type = await asyncio.to_thread(jobs().file, job_id, name)
    headers = {**FILE_HEADERS, "Content-Disposition": f'inline; filename="{name}"'}
    return Response(data, content_type=content_type, headers=headers)


@bp.post("/jobs/<job_id>/cancel")
@document_response(JobOut, 202)
@document_response(Problem, 409)
async def cancel_job(job_id: str) -> Response:
    """Cancel a queued job, or stop a running one within a second (the job stays, canceled,
    until its results expire)."""
    document = await asyncio.to_thread(jobs().cancel, job_id)
    return json_response(job_document(document), 202)


@bp.delete("/jobs/<job_id>")
@deprecate
@document_response(JobOut, 202)
@document_response(Problem, 409)
async def cancel_job_the_old_way(job_id: str) -> Response:
    """Deprecated: cancels the job (it is not removed; it stays, canceled, until its results
    expire). Kept for clients of earlier releases; use POST /v1/jobs/{job_id}/cancel."""
    response = await cancel_job(job_id)
    response.headers["Link"] = f'</v1/jobs/{job_id}/cancel>; rel="successor-version"'
    return response


@bp.get("/job-types")
@document_response(JobTypesOut)
async def list_job_types() -> Response:
    """The job types this server runs, each with the JSON Schema of its params."""
    return json_response(
        {
            "types": [
                {
                    "name": kind.name,
                    "description": kind.description,
                    "params_schema": kind.params.model_json_schema(by_alias=True),
                }
                for kind in registry.job_types().values()
            ]
        }
    )
