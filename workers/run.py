"""What a running job sees: its params, the store, progress reporting and file output."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from bokeh.models import Plot
from rq.job import Job

from tsdb.keys import job_cancel_key
from tsdb.store import TimeSeriesStore
from workers import artifacts
from workers.context import WorkerContext
from workers.errors import JobCanceled
from workers.models import JobFile

__all__ = ["JobRun"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class JobRun:
    """One execution of a job on a worker."""

    def __init__(self, job: Job, context: WorkerContext) -> None:
        self.job = job
        self.context = context
        self.files: list[JobFile] = []

    @property
    def id(self) -> str:
        return str(self.job.id)

    @property
    def store(self) -> TimeSeriesStore:
        return self.context.store

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a store coroutine on the worker's event loop."""
        return self.context.run(coroutine)

    def progress(self, percent: int, message: str) -> None:
        """Report progress (0-100) and stop here if a cancel was requested."""
        if self.context.queue_connection.exists(job_cancel_key(self.id)):
            raise JobCanceled("canceled on request")
        self.job.meta["progress"] = {"percent": max(0, min(100, percent)), "message": message}
        self.job.save_meta()

    def save_file(self, name: str, data: bytes, content_type: str) -> JobFile:
        """Keep a file of this job for as long as its result."""
        ttl = int(self.job.result_ttl or self.context.settings.result_ttl)
        info = artifacts.save(self.context.queue_connection, self.id, name, data, content_type, ttl)
        self.files.append(info)
        return info

    def render_png(self, figure: Plot) -> bytes:
        """A PNG of ``figure`` from the worker's kept headless Chromium."""
        return self.context.renderer.render(figure)
