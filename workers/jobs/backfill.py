"""``backfill``: fill the rollup tiers of series from the raw history they already hold.

Submitted by the API when tiers are given to series with data (``PUT .../rollups``, a policy),
or by hand. Each series is filled in steps of about 200,000 raw samples per tier (one short
Redis function call each), oldest first; how far each tier is filled lives in Redis, so a
job that stops (its worker died, it was canceled) resumes where it was when run again, and
reads meanwhile use what is filled and raw samples for the rest.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from core.fields import SeriesKey, StrictModel
from tsdb.errors import SeriesNotFound
from tsdb.keys import validate_key
from tsdb.rollups.manage import backfill
from tsdb.store import TimeSeriesStore
from workers.registry import JobType
from workers.run import JobRun

__all__ = ["JOB_TYPE", "BackfillParams"]

PROGRESS_SECONDS = 0.5


class BackfillParams(StrictModel):
    """The series whose tiers to fill."""

    keys: list[SeriesKey] = Field(
        min_length=1, max_length=100_000, description="Series keys (each must have tiers)"
    )


async def prepare(params: BackfillParams, store: TimeSeriesStore) -> BackfillParams:
    keys = [validate_key(k) for k in dict.fromkeys(params.keys)]
    for key in keys:
        if not await store.exists(key):
            raise SeriesNotFound(key)
    return params.model_copy(update={"keys": keys})


def run(params: BackfillParams, job: JobRun) -> dict[str, Any]:
    """Fills the rollup tiers of series from the raw samples they hold (resumable)."""
    keys = params.keys
    filled = []
    last_report = 0.0
    for i, key in enumerate(keys):

        def report(fraction: float, i: int = i, key: str = key) -> None:
            nonlocal last_report
            now = time.monotonic()
            if now - last_report >= PROGRESS_SECONDS:
                last_report = now
                done = (i + fraction) / len(keys)
                job.progress(int(99 * done), f"{key}: {fraction:.0%} ({i + 1} of {len(keys)})")

        job.progress(int(99 * i / len(keys)), f"{key} ({i + 1} of {len(keys)})")
        try:
            filled.append(job.run(backfill(job.store, key, report)))
        except SeriesNotFound:
            filled.append({"key": key, "tiers": [], "deleted": True})
    job.progress(100, "done")
    return {"series": filled}


JOB_TYPE = JobType.of("backfill", BackfillParams, prepare, run)
