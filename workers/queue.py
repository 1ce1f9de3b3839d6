"""Submitting, finding, listing and canceling jobs (the API's side of the job system)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from redis import Connection, Redis, SSLConnection, UnixDomainSocketConnection
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from tsdb.breaker import Breaker, guarded_class
from tsdb.connection import is_cluster_url
from tsdb.errors import InvalidInput
from tsdb.faults import guarded
from tsdb.keys import job_cancel_key, job_dependents_key, jobs_index_key
from workers import artifacts
from workers.errors import DependencyFailed, JobNotCancelable, JobNotFinished, JobNotFound
from workers.models import JobDocument, JobFile, JobStatus, Progress

__all__ = ["QUEUE_NAME", "JobQueue", "connect_queue"]

QUEUE_NAME = "tsapi"
ENTRY_POINT = "workers.runner.execute"
ABANDONED = "the worker running this job stopped (killed or lost) before it finished"


def connect_queue(
    url: str, *, socket_timeout: float = 5.0, breaker: Breaker | None = None
) -> Redis:
    """A client for the job queue's Redis (RQ needs a plain, non-cluster Redis); with a
    ``breaker``, it fails at once while that Redis is known to be unreachable."""
    if is_cluster_url(url):
        raise InvalidInput(
            "the job queue cannot live on a Redis Cluster: set TSAPI_QUEUE_URL to a plain Redis"
        )
    options: dict[str, Any] = {}
    if breaker is not None:
        scheme = urlsplit(url).scheme
        base = {"rediss": SSLConnection, "unix": UnixDomainSocketConnection}.get(scheme, Connection)
        options = {"connection_class": guarded_class(base), "breaker": breaker}
    return Redis.from_url(
        url,
        socket_connect_timeout=3,
        socket_timeout=socket_timeout,
        health_check_interval=30,
        **options,
    )


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


@guarded
class JobQueue:
    """Jobs on one Redis: RQ does the queueing; this adds the API's view of them."""

    def __init__(
        self,
        connection: Redis,
        *,
        job_timeout: int = 600,
        result_ttl: int = 7 * 86_400,
        retries: int = 2,
        name: str = QUEUE_NAME,
    ) -> None:
        self.connection = connection
        self.job_timeout = job_timeout
        self.result_ttl = result_ttl
        self.retries = retries
        self.queue = Queue(name, connection=connection, serializer=JSONSerializer)
        self._reaped_at = 0.0

    def submit(
        self,
        job_type: str,
        params: dict[str, Any],
        *,
        depends_on: list[str] | None = None,
        prepare_at_run: bool = False,
    ) -> JobDocument:
        """Enqueue a job of a registered type with already validated params.

        With ``depends_on`` it waits until those jobs have finished (and is canceled if
        one of them fails). ``prepare_at_run`` makes the worker check the params against
        the data when the job starts, for data that its dependencies will create.
        """
        if depends_on:
            self.check_dependencies(depends_on)
        meta: dict[str, Any] = {
            "type": job_type,
            "params": params,
            "progress": {"percent": 0, "message": "queued"},
        }
        if depends_on:
            meta["depends_on"] = list(depends_on)
        if prepare_at_run:
            meta["prepare_at_run"] = True
        job = self.queue.enqueue(
            ENTRY_POINT,
            args=(job_type, params),
            job_timeout=self.job_timeout,
            result_ttl=self.result_ttl,
            failure_ttl=self.result_ttl,
            ttl=self.result_ttl,
            retry=Retry(max=self.retries) if self.retries else None,
            meta=meta,
            depends_on=list(depends_on or []) or None,
            description=f"{job_type} job",
        )
        if depends_on and job.get_status(refresh=False) == RqStatus.DEFERRED:
            job.meta["progress"]["message"] = f"waiting for {', '.join(depends_on)}"
            job.save_meta()
        created = time.time_ns() // 1000
        with self.connection.pipeline() as pipe:
            pipe.zadd(jobs_index_key(), {job.id: created})
            for parent in depends_on or []:
                pipe.sadd(job_dependents_key(parent), job.id)
                pipe.expire(job_dependents_key(parent), self.result_ttl)
            pipe.execute()
        return self._document(job)

    def check_dependencies(self, job_ids: list[str]) -> None:
        """Each job must exist and not have failed or been canceled."""
        for job_id in job_ids:
            status = self._status(self._fetch(job_id))
            if status in (JobStatus.FAILED, JobStatus.CANCELED):
                raise DependencyFailed(f"job {job_id} has {status}: nothing can wait for it")

    def get(self, job_id: str) -> JobDocument:
        """The job's document; :class:`JobNotFound` if it is unknown or expired."""
        self.reap()
        return self._document(self._fetch(job_id))

    def list(
        self,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: int | None = None,
    ) -> tuple[list[JobDocument], int | None]:
        """Jobs newest first, filtered; returns a page and the cursor of the next one."""
        self.reap()
        found: list[JobDocument] = []
        next_cursor: int | None = None
        for score, job in self._newest(cursor):
            document = self._document(job)
            if (status is None or document.status == status) and (
                job_type is None or document.type == job_type
            ):
                if len(found) == limit:
                    break
                found.append(document)
                next_cursor = score
        else:
            next_cursor = None
        return found, next_cursor

    def _newest(self, cursor: int | None) -> Iterator[tuple[int, Job]]:
        key = jobs_index_key()
        high: str | int = f"({cursor}" if cursor is not None else "+inf"
        while True:
            rows: list[tuple[bytes, float]] = self.connection.zrevrangebyscore(  # type: ignore[assignment]
                key, high, "-inf", start=0, num=200, withscores=True
            )
            if not rows:
                return
            ids = [r[0].decode() for r in rows]
            jobs = Job.fetch_many(ids, connection=self.connection, serializer=JSONSerializer)
            gone = [job_id for job_id, job in zip(ids, jobs, strict=True) if job is None]
            if gone:
                self.connection.zrem(key, *gone)  # expired jobs leave the index
            for (_, score), job in zip(rows, jobs, strict=True):
                if job is not None:
                    yield int(score), job
            high = f"({int(rows[-1][1])}"

    def cancel(self, job_id: str) -> JobDocument:
        """Cancel a queued job, or ask a running one to stop at its next progress report."""
        job = self._fetch(job_id)
        document = self._document(job)
        if document.status.ended:
            raise JobNotCancelable(f"job {job_id} has already {document.status}")
        self.connection.set(job_cancel_key(job.id), 1, ex=self.result_ttl)
        if document.status == JobStatus.QUEUED:
            # if it started meanwhile, the flag stops it at its next progress report
            with contextlib.suppress(InvalidJobOperation):
                job.cancel()
        return self._document(self._fetch(job_id))

    def result(self, job_id: str) -> Any:
        """The JSON result of a finished job."""
        job = self._fetch(job_id)
        status = self._status(job)
        if status != JobStatus.FINISHED:
            raise JobNotFinished(job_id, status)
        return job.return_value()

    def file(self, job_id: str, name: str) -> tuple[bytes, str]:
        """One file of a finished job, with its content type."""
        job = self._fetch(job_id)
        status = self._status(job)
        if status != JobStatus.FINISHED:
            if any(f.name == name for f in artifacts.list_files(self.connection, job_id)):
                raise JobNotFinished(job_id, status)
            if not status.ended:
                raise JobNotFinished(job_id, status)
        return artifacts.load(self.connection, job_id, name)

    def reap(self, every: float = 2.0) -> None:
        """Fail or retry jobs whose worker stopped sending heartbeats (at most every 2 s)."""
        now = time.monotonic()
        if now - self._reaped_at < every:
            return
        self._reaped_at = now
        StartedJobRegistry(queue=self.queue, serializer=JSONSerializer).cleanup()

    def _fetch(self, job_id: str) -> Job:
        try:
            return Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
        except (NoSuchJobError, ValueError):
            raise JobNotFound(f"no job {job_id!r} (unknown, or its results expired)") from None

    def _status(self, job: Job) -> JobStatus:
        status = job.get_status(refresh=False)
        if status == RqStatus.FINISHED:
            return JobStatus.FINISHED
        if status == RqStatus.STARTED:
            return JobStatus.STARTED
        if status == RqStatus.DEFERRED:
            return self._deferred_status(job)
        if status in (RqStatus.CANCELED, RqStatus.STOPPED):
            return JobStatus.CANCELED
        if status == RqStatus.FAILED:
            return JobStatus.CANCELED if self._cancel_requested(job) else JobStatus.FAILED
        return JobStatus.QUEUED

    def _cancel_requested(self, job: Job) -> bool:
        return bool(self.connection.exists(job_cancel_key(job.id)))

    def _deferred_status(self, job: Job) -> JobStatus:
        """A job waiting for others: canceled for good once one of those has failed."""
        for parent in job.fetch_dependencies():
            if self._status(parent) in (JobStatus.FAILED, JobStatus.CANCELED):
                reason = f"canceled: job {parent.id}, which it waits for, did not finish"
                job.meta["error"] = reason
                job.meta["progress"] = {"percent": 0, "message": reason}
                job.save_meta()
                self.connection.set(job_cancel_key(job.id), 1, ex=self.result_ttl)
                with contextlib.suppress(InvalidJobOperation):
                    job.cancel()
                return JobStatus.CANCELED
        return JobStatus.QUEUED

    def _ended_at(self, job: Job) -> int | None:
        if job.ended_at is not None:
            return _ms(job.ended_at)
        latest = job.latest_result()  # abandoned jobs are failed by a cleanup, not a worker
        return _ms(latest.created_at) if latest is not None else None

    def _document(self, job: Job) -> JobDocument:
        status = self._status(job)
        meta = job.meta
        progress = meta.get("progress") or {}
        files: list[JobFile] = artifacts.list_files(self.connection, job.id) if status.ended else []
        error = None
        if status == JobStatus.FAILED:
            latest = job.latest_result()
            trace = latest.exc_string if latest is not None else None
            if "AbandonedJobError" in (trace or ""):
                error = ABANDONED
            else:
                error = meta.get("error") or _last_line(trace) or "failed"
        elif status == JobStatus.CANCELED:
            error = str(meta.get("error") or "canceled on request")
        return JobDocument(
            id=job.id,
            type=str(meta.get("type", "")),
            params=meta.get("params") or {},
            status=status,
            progress=Progress(
                percent=100 if status == JobStatus.FINISHED else int(progress.get("percent", 0)),
                message=_progress_message(status, progress),
            ),
            created_at=_ms(job.created_at),
            started_at=_ms(job.started_at),
            ended_at=self._ended_at(job) if status.ended else None,
            worker=job.worker_name,
            error=error,
            cancel_requested=self._cancel_requested(job),
            attempts=int(meta.get("attempts", 0)),
            files=files,
            depends_on=list(meta.get("depends_on") or job.dependency_ids),
            dependents=sorted(
                {*job.dependent_ids, *(m.decode() for m in self._dependents(job.id))}
            ),
        )

    def _dependents(self, job_id: str) -> set[bytes]:
        return self.connection.smembers(job_dependents_key(job_id))  # type: ignore[return-value]


def _progress_message(status: JobStatus, progress: dict[str, Any]) -> str:
    """What a job says it is doing; an ended job no longer says "waiting for ..."."""
    if status == JobStatus.FINISHED:
        return "done"
    message = str(progress.get("message", status.value))
    if status.ended and (message.startswith("waiting for") or message == "queued"):
        return str(status.value)
    return message


def _last_line(text: str | None) -> str | None:
    if not text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None
