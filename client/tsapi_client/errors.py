"""What the client raises.

::

    TsapiError
    ├── ApiError               the API answered with an error; carries its problem+json details
    │   ├── BadRequest         400: the body is not valid JSON (or gzip)
    │   ├── Unauthorized       401: no valid API key (missing, unknown, revoked or wrong)
    │   ├── Forbidden          403: the key lacks the scope, or the series is out of its reach
    │   ├── NotFound           404: unknown series, rule, job, file, key or route
    │   ├── Conflict           409: exists already, duplicate blocked, job not finished or ended,
    │   │                      points refused by the data (missing series, retention)
    │   ├── PayloadTooLarge    413: the body is larger than the server takes
    │   ├── UnsupportedMediaType  415: a content type (or encoding) the route does not take
    │   ├── InvalidInput       422: bad key, label, time, value, aggregator, parameter...
    │   ├── RateLimited        429: over the key's rate limit (raised once the retries are spent)
    │   ├── Unavailable        503: Redis unreachable (raised once the retries are spent)
    │   ├── ServerTimeout      504: Redis or the handler did not answer in time (the request may
    │   │                      have been applied; not retried)
    │   └── StreamInterrupted  a streamed answer (200) was cut by a fault: it ends in an error
    │                          record; ``status`` is that record's (503, 504...)
    ├── ConnectionFailed       the server could not be reached (raised once the retries are spent)
    ├── JobError               wait_job(): the job ended without finishing
    │   ├── JobFailed          ... it failed (``error`` says why)
    │   └── JobCanceled        ... it was canceled
    ├── WaitTimeout            wait_job(): still running when the timeout passed
    └── MissingDependency      an optional package (pandas) is needed for this call

Points refused by a write raise an :class:`ApiError` (``409`` for blocked duplicates, ``422``
otherwise) whose ``written`` and ``rejected`` say what went in and what did not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tsapi_client.models import Job

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidInput",
    "JobCanceled",
    "JobError",
    "JobFailed",
    "MissingDependency",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerTimeout",
    "StreamInterrupted",
    "TsapiError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "WaitTimeout",
]


class TsapiError(Exception):
    """Base class of every error the client raises."""


class ApiError(TsapiError):
    """An error answer, with the RFC 9457 problem details the API sent.

    ``problem`` is the whole document; the usual members have attributes of their own, and
    ``errors`` (field-level problems), ``rejected`` and ``written`` are empty/None when the
    answer has none.
    """

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", "")) or f"HTTP {status}"
        self.detail: str | None = problem.get("detail")
        self.instance: str | None = problem.get("instance")
        super().__init__(str(self))

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Field-level problems (``{"field", "message"}`` or ``{"index", "field", "message"}``)."""
        return list(self.problem.get("errors") or [])

    @property
    def rejected(self) -> list[dict[str, Any]]:
        """Points that were refused, each with its ``index`` or ``line`` and a ``reason``."""
        return list(self.problem.get("rejected") or [])

    @property
    def written(self) -> int | None:
        """How many points went in despite the error, when the answer says so."""
        value = self.problem.get("written")
        return None if value is None else int(value)

    def __str__(self) -> str:
        text = f"{self.status} {self.title}"
        return f"{text}: {self.detail}" if self.detail else text


class BadRequest(ApiError):
    """400: the body could not be read."""


class Unauthorized(ApiError):
    """401: no valid API key; send one as ``api_key=`` (or ``TSAPI_API_KEY``)."""


class Forbidden(ApiError):
    """403: the key lacks the scope this needs, or the series is outside its limits."""


class NotFound(ApiError):
    """404: the series, rule, job, file, key or route does not exist."""


class Conflict(ApiError):
    """409: the state of the server refuses the request."""


class InvalidInput(ApiError):
    """422: the request is well-formed but its content is not valid."""


class PayloadTooLarge(ApiError):
    """413: the body is larger than the server takes (``TSAPI_MAX_BODY_BYTES``)."""


class UnsupportedMediaType(ApiError):
    """415: the route does not take this content type or encoding."""


class RateLimited(ApiError):
    """429: over the rate limit; ``retry_after`` is how many seconds the server asked for."""

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait, from the ``Retry-After`` header (None if it had none)."""
        value = self.problem.get("retry_after")
        return None if value is None else float(value)


class Unavailable(ApiError):
    """503: the API cannot reach Redis right now (after the client's retries). A bulk write
    cut by the outage says how far it got: ``written`` points are stored, ``unconfirmed``
    ones may or may not be."""

    @property
    def unconfirmed(self) -> int | None:
        """Points sent to Redis without a confirmation, when the answer says so."""
        value = self.problem.get("unconfirmed")
        return None if value is None else int(value)


class ServerTimeout(ApiError):
    """504: Redis (or the handler) did not answer in time. The request may have been
    applied, so it is not retried."""


class StreamInterrupted(ApiError):
    """A streamed answer was cut by a fault after it had started (its status was 200): it
    ended with an error record instead of its last points. ``status`` and ``problem`` are the
    record's; what arrived before it is incomplete."""


class ConnectionFailed(TsapiError):
    """The server could not be reached, even after retrying."""

    def __init__(self, url: str, reason: str, attempts: int) -> None:
        self.url, self.reason, self.attempts = url, reason, attempts
        tries = f" (tried {attempts} times)" if attempts > 1 else ""
        super().__init__(f"cannot reach tsapi at {url}: {reason}{tries}")


class JobError(TsapiError):
    """A job that was waited for ended without finishing; ``job`` is its last state."""

    def __init__(self, job: Job, message: str) -> None:
        self.job = job
        super().__init__(message)


class JobFailed(JobError):
    """The job failed; ``job.error`` says why."""

    def __init__(self, job: Job) -> None:
        super().__init__(job, f"job {job.id} ({job.type}) failed: {job.error or 'no reason given'}")


class JobCanceled(JobError):
    """The job was canceled."""

    def __init__(self, job: Job) -> None:
        super().__init__(job, f"job {job.id} ({job.type}) was canceled")


class WaitTimeout(TsapiError, TimeoutError):
    """The job had not ended when the wait timed out; ``job`` is its last state."""

    def __init__(self, job: Job, timeout: float) -> None:
        self.job = job
        super().__init__(
            f"job {job.id} is still {job.status} ({job.progress.percent}%) after {timeout:g} s"
        )


class MissingDependency(TsapiError, ImportError):
    """An optional package is needed for this call."""

    def __init__(self, package: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs {package}: pip install {package}")


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidInput,
    429: RateLimited,
    503: Unavailable,
    504: ServerTimeout,
}


def api_error(status: int, problem: dict[str, Any]) -> ApiError:
    """The most specific :class:`ApiError` for an answer's status."""
    return _BY_STATUS.get(status, ApiError)(status, problem)
