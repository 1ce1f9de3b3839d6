"""Typed views of jobs as the API shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["JobDocument", "JobFile", "JobStatus", "Progress"]


class JobStatus(StrEnum):
    """The life of a job, as users see it."""

    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        """True once the job will not change any more."""
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True)
class Progress:
    """How far a job is, 0-100, with a short message."""

    percent: int = 0
    message: str = "queued"


@dataclass(frozen=True)
class JobFile:
    """One file a job produced."""

    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class JobDocument:
    """Everything the API says about a job."""

    id: str
    type: str
    params: dict[str, Any]
    status: JobStatus
    progress: Progress
    created_at: int | None
    started_at: int | None
    ended_at: int | None
    worker: str | None
    error: str | None
    cancel_requested: bool
    attempts: int
    files: list[JobFile] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)
