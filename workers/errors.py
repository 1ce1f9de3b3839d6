"""Errors of the job system; the API maps each to one problem+json response.

JobError
├── UnknownJobType      the type is not on the allow-list
├── JobNotFound         unknown or expired job (or file)
├── JobNotFinished      result or file asked of a job that has not finished
├── JobNotCancelable    the job already ended
└── JobCanceled         raised inside a job when a cancel was requested
"""

from __future__ import annotations

__all__ = [
    "DependencyFailed",
    "JobCanceled",
    "JobError",
    "JobNotCancelable",
    "JobNotFinished",
    "JobNotFound",
    "JobNotPossible",
    "ScheduleNotFound",
    "UnknownJobType",
]


class JobError(Exception):
    """Base class of the job system's errors."""


class UnknownJobType(JobError):
    """The job type is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown job type {name!r}; known types: {', '.join(known)}")
        self.name = name


class JobNotFound(JobError):
    """No such job (or it expired), or no such file of that job."""


class ScheduleNotFound(JobNotFound):
    """No such schedule."""


class JobNotFinished(JobError):
    """The job has not finished (yet), so it has no result or files."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id} is {status}; results and files exist once it has finished")
        self.status = status


class JobNotCancelable(JobError):
    """The job has already ended."""


class DependencyFailed(JobError):
    """A job this one was to wait for has failed or was canceled."""


class JobCanceled(JobError):
    """Raised inside a running job when someone asked to cancel it."""


class JobNotPossible(JobError):
    """The job's params are well formed, but the data does not allow the job: too many or
    too few series selected, no data or too much in the range, a written series that would
    overwrite a source."""
