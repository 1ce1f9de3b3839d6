"""Every error a user sees, as one RFC 9457 ``application/problem+json`` shape.

Domain errors from :mod:`tsdb`, request validation errors and HTTP errors each map
to one response here; anything else is a bug, logged with its traceback and answered
with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from api.responses import PROBLEM_JSON, json_response
from tsdb.errors import (
    InvalidInput,
    RuleConflict,
    RuleNotFound,
    SeriesExists,
    SeriesNotFound,
    StoreUnavailable,
    WriteRejected,
)
from workers.errors import (
    DependencyFailed,
    JobNotCancelable,
    JobNotFinished,
    JobNotFound,
    ScheduleNotFound,
    UnknownJobType,
)

__all__ = ["ApiError", "RequestRefused", "problem", "register_error_handlers"]

log = logging.getLogger(__name__)

PROBLEM_BASE = "tag:tsapi,2026:problem:"


class ApiError(Exception):
    """An error raised by the API layer itself (not the data layer), with its status."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.extra = (
            status,
            slug,
            title,
            detail,
            extra,
        )


class RequestRefused(ApiError):
    """A request turned away before its handler ran, or stopped: 401, 403, 429, 504.

    Unlike other API errors it carries response headers (``WWW-Authenticate``,
    ``Retry-After``); the classes are in :mod:`api.security.errors`.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status, slug, title, detail, **extra)
        self.headers = dict(headers or {})


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response; ``slug`` names the problem type (``about:blank`` if empty)."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update(extra)
    return json_response(body, status, headers=headers, mimetype=PROBLEM_JSON)


def _validation_errors(exc: Exception) -> list[dict[str, Any]]:
    if isinstance(exc, ValidationError):
        return [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "body",
                "message": e["msg"],
            }
            for e in exc.errors(include_url=False)
        ]
    return [{"field": "body", "message": str(exc)}]


def _rejected_points(
    *, duplicates: bool, count: int, written: int, rejected: list[dict[str, Any]], **extra: Any
) -> Response:
    """Points the server refused: 409 when all were blocked duplicates, else 422."""
    if extra.get("atomic"):
        outcome = "are invalid; nothing was written (atomic)"
    else:
        outcome = f"were rejected and {written} written"
    return problem(
        409 if duplicates else 422,
        "duplicate-blocked" if duplicates else "points-rejected",
        "Duplicate timestamps blocked" if duplicates else "Some points were rejected",
        f"{count} point(s) {outcome}; see 'rejected' for each point and the reason",
        written=written,
        **extra,
        rejected=rejected,
        rejected_count=count,
    )


def register_error_handlers(app: Quart) -> None:
    """Install one handler per error type on ``app``."""
    # imported here: the bulk writer pulls in pyarrow, which the CLI need not load
    from tsdb.bulk import IngestRejected

    @app.errorhandler(ApiError)
    async def api_error(exc: ApiError) -> Response:
        return problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(RequestRefused)
    async def request_refused(exc: RequestRefused) -> Response:
        return problem(
            exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers, **exc.extra
        )

    @app.errorhandler(SeriesNotFound)
    async def series_not_found(exc: SeriesNotFound) -> Response:
        return problem(404, "series-not-found", "Series not found", str(exc), key=exc.key)

    @app.errorhandler(RuleNotFound)
    async def rule_not_found(exc: RuleNotFound) -> Response:
        return problem(404, "rule-not-found", "Compaction rule not found", str(exc))

    @app.errorhandler(SeriesExists)
    async def series_exists(exc: SeriesExists) -> Response:
        return problem(409, "series-exists", "Series already exists", str(exc), key=exc.key)

    @app.errorhandler(RuleConflict)
    async def rule_conflict(exc: RuleConflict) -> Response:
        return problem(409, "rule-conflict", "Compaction rule conflict", str(exc))

    @app.errorhandler(WriteRejected)
    async def write_rejected(exc: WriteRejected) -> Response:
        return _rejected_points(
            duplicates=exc.all_duplicates,
            count=len(exc.rejected),
            written=exc.written,
            rejected=[asdict(e) for e in exc.rejected[:1000]],
        )

    @app.errorhandler(IngestRejected)
    async def ingest_rejected(exc: IngestRejected) -> Response:
        return _rejected_points(
            duplicates=exc.rejections.all_duplicates,
            count=exc.rejections.count,
            written=exc.written,
            rejected=exc.rejections.as_dicts(),
            atomic=exc.atomic,
            created=exc.created,
        )

    @app.errorhandler(InvalidInput)
    async def invalid_input(exc: InvalidInput) -> Response:
        extra: dict[str, Any] = {"errors": exc.errors} if exc.errors else {}
        return problem(422, "invalid-input", "Invalid input", str(exc), **extra)

    @app.errorhandler(StoreUnavailable)
    async def store_unavailable(exc: StoreUnavailable) -> Response:
        log.warning("store unavailable: %s", exc)
        return problem(
            503,
            "store-unavailable",
            "Time-series store unavailable",
            "Redis cannot be reached right now; retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.errorhandler(UnknownJobType)
    async def unknown_job_type(exc: UnknownJobType) -> Response:
        return problem(422, "unknown-job-type", "Unknown job type", str(exc))

    @app.errorhandler(ScheduleNotFound)
    async def schedule_not_found(exc: ScheduleNotFound) -> Response:
        return problem(404, "schedule-not-found", "Schedule not found", str(exc))

    @app.errorhandler(JobNotFound)
    async def job_not_found(exc: JobNotFound) -> Response:
        return problem(404, "job-not-found", "Job not found", str(exc))

    @app.errorhandler(JobNotFinished)
    async def job_not_finished(exc: JobNotFinished) -> Response:
        return problem(409, "job-not-finished", "Job not finished", str(exc), job_status=exc.status)

    @app.errorhandler(DependencyFailed)
    async def dependency_failed(exc: DependencyFailed) -> Response:
        return problem(409, "dependency-failed", "Dependency failed", str(exc))

    @app.errorhandler(JobNotCancelable)
    async def job_not_cancelable(exc: JobNotCancelable) -> Response:
        return problem(409, "job-ended", "Job already ended", str(exc))

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_error(exc: RequestSchemaValidationError) -> Response:
        return problem(
            422,
            "invalid-input",
            "Invalid input",
            "the request does not match the expected schema",
            errors=_validation_errors(exc.validation_error),
        )

    @app.errorhandler(UnicodeDecodeError)
    async def undecodable_body(exc: UnicodeDecodeError) -> Response:
        # a JSON body that is not UTF-8 (Quart decodes it before anything can parse it)
        return problem(
            400, "malformed-json", "Malformed JSON", f"the request body is not UTF-8: {exc}"
        )

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = exc.description
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"the request body is larger than the limit of {limit} bytes"
        elif status == 400 and request.mimetype == "application/json":
            detail = "the request body is not valid JSON"
        elif status == 415:
            detail = f"this endpoint does not accept {request.mimetype or 'a body without type'}"
        headers = dict(exc.get_headers()) if status == 405 else None
        allow = {"Allow": headers["Allow"]} if headers and "Allow" in headers else None
        return problem(status, "", exc.name, detail, headers=allow)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "", "Internal Server Error", "an unexpected error occurred")
