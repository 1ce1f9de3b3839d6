"""What the client raises.

::

    TsapiError
    ├── ApiError               the API answered with an error; carries its problem+json details
    │   ├── BadRequest         400: the body is not valid JSON (or gzip)
    │   ├── NotFound           404: unknown series, rule, job, file or route
    │   ├── Conflict           409: already exists, duplicate blocked, job not finished or ended
    │   ├── InvalidInput       422: bad key, label, time, value, aggregator, parameter...
    │   └── Unavailable        503: Redis unreachable (raised once the retries are spent)
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
    "InvalidInput",
    "JobCanceled",
    "JobError",
    "JobFailed",
    "MissingDependency",
    "NotFound",
    "TsapiError",
    "Unavailable",
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


class NotFound(ApiError):
    """404: the series, rule, job, file or route does not exist."""


class Conflict(ApiError):
    """409: the state of the server refuses the request."""


class InvalidInput(ApiError):
    """422: the request is well-formed but its content is not valid."""


class Unavailable(ApiError):
    """503: the API cannot reach Redis right now (after the client's retries)."""


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
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    503: Unavailable,
}


def api_error(status: int, problem: dict[str, Any]) -> ApiError:
    """The most specific :class:`ApiError` for an answer's status."""
    return _BY_STATUS.get(status, ApiError)(status, problem)
