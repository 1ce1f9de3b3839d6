"""The worker process: an RQ worker that runs jobs in-process and keeps beating during them.

Jobs run in the worker's own process (no fork per job), so the headless Chromium used for
PNGs and the Redis connections survive from one job to the next. A thread sends heartbeats
while a job runs; if the process dies (even by kill -9) its job's heartbeat expires after
three missed beats and the job is retried or failed by the next registry cleanup (done by
other workers and by the API), instead of staying "started" forever.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from core.settings import Settings
from core.shared_config import SharedSettings
from workers import cancel, context
from workers.cancel import CancelWatcher
from workers.queue import QUEUE_NAME, JobQueue, connect_queue
from workers.schedules import ScheduleStore, Ticker, fire_due

__all__ = ["TsapiWorker", "run_worker"]

log = logging.getLogger(__name__)


class TsapiWorker(SimpleWorker):
    """A :class:`rq.SimpleWorker` with heartbeats during jobs and short heartbeat TTLs.

    Before each job it re-reads the shared settings in Redis (``tsapi config set``) and
    applies them: heartbeat interval, TS.MADD chunk size, and what jobs read from settings.
    """

    heartbeat_interval = 10
    shared: SharedSettings | None = None
    job_context: context.WorkerContext | None = None

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Three missed beats and the job counts as abandoned."""
        return 3 * self.heartbeat_interval

    def refresh_settings(self) -> None:
        """Apply the shared settings now in force."""
        if self.shared is None or self.job_context is None:
            return
        settings = self.job_context.run(self.shared.refresh(self.job_context.store.client))
        self.heartbeat_interval = settings.worker_heartbeat
        self.job_monitoring_interval = settings.worker_heartbeat
        self.job_context.settings = settings
        self.job_context.store.chunk_points = settings.write_chunk_points

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run ``job`` here, beating from a thread until it ends."""
        self.refresh_settings()
        execution = self.prepare_execution(job)
        stop = threading.Event()
        beater = threading.Thread(
            target=self._beat, args=(job, execution, stop), name="heartbeat", daemon=True
        )
        beater.start()
        try:
            with CancelWatcher(self.connection, job.id):
                self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beater.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, execution: Execution, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # a missed beat is not fatal; three in a row are
                log.warning("heartbeat for job %s failed", job.id, exc_info=True)


def run_worker(settings: Settings, queues: list[str] | None = None, *, burst: bool = False) -> bool:
    """Run a worker until stopped (or, with ``burst``, until the queues are empty)."""
    connection = connect_queue(settings.job_queue_url)
    cancel.install_handler()
    worker_context = context.WorkerContext(settings, connection)
    context.install(worker_context)
    TsapiWorker.heartbeat_interval = settings.worker_heartbeat
    worker = TsapiWorker(
        [
            Queue(name, connection=connection, serializer=JSONSerializer)
            for name in (queues or [QUEUE_NAME])
        ],
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=max(5, 2 * settings.worker_heartbeat),
        job_monitoring_interval=settings.worker_heartbeat,
    )
    worker.shared = SharedSettings(settings)
    worker.job_context = worker_context
    worker.refresh_settings()
    # No scheduler process: it would be forked from the worker and, if the worker is
    # killed, outlive it holding the worker's blocked dequeue connection, so Redis would
    # keep handing jobs to a dead worker. Retries are immediate instead.
    options: dict[str, Any] = {
        "burst": burst,
        "with_scheduler": False,
        "logging_level": settings.log_level.upper(),
    }
    # Every worker also submits the jobs of due schedules (each run is claimed once).
    schedules = ScheduleStore(connection)
    queue = JobQueue(
        connection,
        job_timeout=settings.job_timeout,
        result_ttl=settings.result_ttl,
        retries=settings.job_retries,
    )
    ticker = None
    if burst:
        fire_due(schedules, queue, settings)  # a burst worker runs what is due now, once
    else:
        ticker = Ticker(schedules, queue, settings)
        ticker.start()
    try:
        return bool(worker.work(**options))
    finally:
        if ticker is not None:
            ticker.stop()
        worker_context.close()
