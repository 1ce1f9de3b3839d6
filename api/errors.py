"""Every error a user sees, as one RFC 9457 ``application/problem+json`` shape.

One handler answers every exception: it walks the exception's class hierarchy through
:data:`PROBLEMS`, the table of domain errors (from :mod:`tsdb` and :mod:`workers`) and
their status, type and title; a few kinds with a shape of their own (rejected points,
schema validation, HTTP errors, the API's own :class:`ApiError`) have their own builder.
Anything else is a bug, logged with its traceback and answered with a bare 500 that reveals
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, current_app, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from api.outage import outage_log
from api.responses import PROBLEM_JSON, ignored_fields, json_response
from tsdb.errors import (
    DeleteRefused,
    InvalidInput,
    NoSeriesMatch,
    RuleConflict,
    RuleNotFound,
    SeriesExists,
    SeriesNotFound,
    StoreTimeout,
    StoreUnavailable,
    WriteRejected,
)
from tsdb.faults import DOES_NOT_EXIST, DUPLICATE, RETENTION
from workers.errors import (
    DependencyFailed,
    JobNotCancelable,
    JobNotFinished,
    JobNotFound,
    JobNotPossible,
    ScheduleNotFound,
    UnknownJobType,
)

__all__ = [
    "PROBLEMS",
    "Answer",
    "ApiError",
    "ProblemType",
    "RequestRefused",
    "answer_for",
    "problem",
    "problem_body",
    "problem_for",
    "register_error_handlers",
]

log = logging.getLogger(__name__)

PROBLEM_BASE = "tag:tsapi,2026:problem:"


class ApiError(Exception):
    """An error raised by the API layer itself (not the data layer), with its status and,
    optionally, response headers."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = dict(headers or {})
        self.extra = extra


class RequestRefused(ApiError):
    """A request turned away before its handler ran, or stopped: 401, 403, 429, 504 (the
    classes are in :mod:`api.security.errors`)."""


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The problem document (a dict) of the current request (or of ``instance``)."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = instance if instance is not None else request.path
    body.update(extra)
    return body


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response; ``slug`` names the problem type (``about:blank`` if empty)."""
    body = problem_body(status, slug, title, detail, **extra)
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


@dataclass(frozen=True)
class ProblemType:
    """How one domain error class is answered."""

    status: int
    slug: str
    title: str
    extra: Callable[[Any], dict[str, Any]] = lambda _exc: {}
    detail: Callable[[Any], str] = str
    headers: dict[str, str] | None = None


def _key(exc: Any) -> dict[str, Any]:
    return {"key": exc.key}


PROBLEMS: dict[type[BaseException], ProblemType] = {
    SeriesNotFound: ProblemType(404, "series-not-found", "Series not found", _key),
    RuleNotFound: ProblemType(404, "rule-not-found", "Compaction rule not found"),
    SeriesExists: ProblemType(409, "series-exists", "Series already exists", _key),
    RuleConflict: ProblemType(409, "rule-conflict", "Compaction rule conflict"),
    DeleteRefused: ProblemType(409, "delete-refused", "Delete refused"),
    NoSeriesMatch: ProblemType(404, "no-series-match", "No series match the filter"),
    InvalidInput: ProblemType(
        422,
        "invalid-input",
        "Invalid input",
        lambda exc: {"errors": exc.errors} if exc.errors else {},
    ),
    StoreTimeout: ProblemType(
        504,
        "store-timeout",
        "Time-series store did not answer",
        detail=lambda _exc: "Redis did not answer in time; retry shortly",
        headers={"Retry-After": "1"},
    ),
    StoreUnavailable: ProblemType(
        503,
        "store-unavailable",
        "Time-series store unavailable",
        detail=lambda _exc: "Redis cannot be reached right now; retry shortly",
        headers={"Retry-After": "1"},
    ),
    UnknownJobType: ProblemType(422, "unknown-job-type", "Unknown job type"),
    ScheduleNotFound: ProblemType(404, "schedule-not-found", "Schedule not found"),
    JobNotFound: ProblemType(404, "job-not-found", "Job not found"),
    JobNotFinished: ProblemType(
        409, "job-not-finished", "Job not finished", lambda exc: {"job_status": exc.status}
    ),
    DependencyFailed: ProblemType(409, "dependency-failed", "Dependency failed"),
    JobNotCancelable: ProblemType(409, "job-ended", "Job already ended"),
    JobNotPossible: ProblemType(409, "job-not-possible", "The data does not allow this job"),
}
"""Domain errors and their answers; a subclass not listed takes its nearest parent's row."""


@dataclass(frozen=True)
class Answer:
    """A problem as data: its status, document and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None

    def response(self) -> Response:
        """As a problem+json response."""
        return json_response(self.body, self.status, headers=self.headers, mimetype=PROBLEM_JSON)


def problem_for(exc: BaseException) -> Response:
    """The problem+json answer to ``exc``."""
    if isinstance(exc, WriteRejected):
        return _rejected_points(exc)
    if isinstance(exc, HTTPException) and not isinstance(exc, RequestSchemaValidationError):
        return _http_problem(exc)
    return answer_for(exc).response()


#: What the module refuses for the state of the data (not the request): answered 409.
STATE_MESSAGES = ("When a series has compactions",)


def answer_for(exc: BaseException, *, method: str | None = None, path: str | None = None) -> Answer:
    """The status, problem document and headers that answer ``exc`` (for the current
    request, or the one given by ``method`` and ``path`` outside of its context)."""
    if method is None or path is None:
        method, path = request.method, request.path
    return _answer(exc, method, path)


def _answer(exc: BaseException, method: str, path: str) -> Answer:
    if isinstance(exc, InvalidInput) and str(exc).startswith(STATE_MESSAGES):
        body = problem_body(
            409, "points-conflict", "Conflict with the stored data", str(exc), instance=path
        )
        return Answer(409, body)
    if isinstance(exc, ApiError):
        body = problem_body(exc.status, exc.slug, exc.title, exc.detail, instance=path, **exc.extra)
        return Answer(exc.status, body, exc.headers or None)
    if isinstance(exc, RequestSchemaValidationError):
        errors = _validation_errors(exc.validation_error)
        shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        body = problem_body(
            422,
            "invalid-input",
            "Invalid input",
            f"the request does not match the API's schema: {shown}{more}",
            instance=path,
            errors=errors,
        )
        return Answer(422, body)
    if isinstance(exc, UnicodeDecodeError):  # a JSON body that is not UTF-8
        detail = f"the request body is not UTF-8: {exc}"
        return Answer(
            400, problem_body(400, "malformed-json", "Malformed JSON", detail, instance=path)
        )
    for cls in type(exc).__mro__:
        kind = PROBLEMS.get(cls)
        if kind is not None:
            if isinstance(exc, StoreUnavailable):
                outage_log().refused(str(exc), f"{method} {path}")
            body = problem_body(
                kind.status,
                kind.slug,
                kind.title,
                kind.detail(exc),
                instance=path,
                **kind.extra(exc),
            )
            return Answer(kind.status, body, kind.headers)
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    detail = "an unexpected error occurred"
    return Answer(500, problem_body(500, "", "Internal Server Error", detail, instance=path))


STATE_REASONS = (DOES_NOT_EXIST, DUPLICATE, RETENTION)
"""Why points of a well-formed write were refused by the state of the data, not the input."""


def _by_state(reason: str) -> bool:
    return reason in STATE_REASONS or reason.startswith("the series could not be created")


def _rejected_points(exc: WriteRejected) -> Response:
    """Points the server refused: 409 when the data's state refused them all (blocked
    duplicates, missing series, older than the retention), else 422 (invalid input)."""
    duplicates = exc.rejections.all_duplicates
    state = duplicates or all(_by_state(r.reason) for r in exc.rejections.items)
    if exc.atomic:
        outcome = "were refused; nothing was written (atomic)"
    else:
        outcome = f"were rejected and {exc.written} written"
    slug, title = "points-rejected", "Some points were rejected"
    if duplicates:
        slug, title = "duplicate-blocked", "Duplicate timestamps blocked"
    elif state:
        slug, title = "points-conflict", "Some points conflict with the stored data"
    return problem(
        409 if state else 422,
        slug,
        title,
        f"{exc.rejections.count} point(s) {outcome}; see 'rejected' for each point and the reason",
        written=exc.written,
        atomic=exc.atomic,
        created=exc.created,
        rejected=exc.rejections.as_dicts(),
        rejected_count=exc.rejections.count,
        **ignored_fields(exc.ignored),
    )


def _http_problem(exc: HTTPException) -> Response:
    status = exc.code or 500
    detail = exc.description
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"the request body is larger than the limit of {limit} bytes"
    elif status == 400 and request.mimetype == "application/json":
        detail = "the request body is not valid JSON"
    elif status == 415:
        detail = f"this endpoint does not accept {request.mimetype or 'a body without type'}"
    headers = dict(exc.get_headers()) if status == 405 else None
    allow = {"Allow": headers["Allow"]} if headers and "Allow" in headers else None
    return problem(status, "", exc.name, detail, headers=allow)


def register_error_handlers(app: Quart) -> None:
    """Answer every error raised while handling a request on ``app`` with a problem."""

    @app.errorhandler(Exception)
    async def handle(exc: Exception) -> Response:
        return problem_for(exc)
