"""The one function RQ ever runs: it looks the job type up on the allow-list and runs it.

Errors that retrying cannot fix (bad params, missing series, a bug) fail the job at once;
Redis being briefly unreachable is left to RQ's retries.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import get_current_job

from tsdb.errors import StoreUnavailable
from tsdb.faults import translate
from tsdb.keys import job_cancel_key
from workers import context, registry
from workers.cancel import interruptible
from workers.errors import JobCanceled
from workers.run import JobRun

__all__ = ["execute"]

log = logging.getLogger(__name__)


def execute(job_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one job of ``job_type`` with JSON ``params``; return its JSON result."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("workers.runner.execute runs only inside an RQ job")
    with translate():
        job.get_meta(refresh=True)  # what the API wrote since the job was fetched
        job.meta["attempts"] = int(job.meta.get("attempts", 0)) + 1
        job.meta["progress"] = {"percent": 0, "message": "started"}
        job.save_meta()
    try:
        kind = registry.get(job_type)
        validated = kind.params.model_validate(params)
        worker_context = context.current()
        if worker_context.queue_connection.exists(job_cancel_key(job.id)):
            raise JobCanceled("canceled on request before it started")
        if job.meta.get("prepare_at_run"):
            # a chained job: its data may only exist now that its dependencies ran
            validated = worker_context.run(kind.prepare(validated, worker_context.store))
            job.meta["params"] = validated.model_dump(mode="json", by_alias=True)
            job.save_meta()
        with translate(), interruptible():
            return kind.run(validated, JobRun(job, worker_context))
    except StoreUnavailable as exc:
        _record_error(job, f"{type(exc).__name__}: {exc} (will retry if attempts are left)")
        raise
    except JobCanceled as exc:
        job.retries_left = 0
        _record_error(job, str(exc))
        context.current().reset()  # it may have stopped mid-call: fresh connections, browser
        raise
    except Exception as exc:
        job.retries_left = 0  # retrying cannot fix this
        _record_error(job, f"{type(exc).__name__}: {exc}")
        raise


def _record_error(job: Any, message: str) -> None:
    try:
        with translate():
            job.meta["error"] = message[:2000]
            job.save_meta()
    except StoreUnavailable:
        log.warning("could not record the error of job %s: %s", job.id, message)
