"""``noop``: does nothing, optionally slowly or by failing; for checking the job system."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from core.fields import StrictModel
from tsdb.store import TimeSeriesStore
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "NoopParams"]


class NoopParams(StrictModel):
    """Sleep in ``steps`` steps for ``seconds`` in all, then return, or fail with a message."""

    seconds: float = Field(0.0, ge=0, le=3600)
    steps: int = Field(1, ge=1, le=1000)
    fail_with: str | None = Field(None, max_length=500, description="Fail with this message")


async def prepare(params: NoopParams, store: TimeSeriesStore) -> NoopParams:
    return params


def run(params: NoopParams, job: JobRun) -> dict[str, Any]:
    """Does nothing (optionally for a while, or by failing): checks the job system."""
    for step in range(params.steps):
        job.progress(100 * step // params.steps, f"step {step + 1} of {params.steps}")
        if params.seconds:
            time.sleep(params.seconds / params.steps)
    if params.fail_with:
        raise RuntimeError(params.fail_with)
    return {"steps": params.steps}


JOB_TYPE = JobType.of("noop", NoopParams, prepare, run)
