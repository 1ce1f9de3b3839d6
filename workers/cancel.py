"""Stopping a running job within a second of its cancel.

While a job runs, a :class:`CancelWatcher` thread looks for the job's cancel flag every
``interval`` seconds; when it appears it sends the worker's main thread ``SIGUSR1``, whose
handler raises :class:`JobCanceled` in the job's code (the way RQ's own job timeouts use
``SIGALRM``). The handler only raises while the job function itself runs
(:func:`interruptible`), never in RQ's bookkeeping around it. A job stopped mid-call may leave
a connection or the browser in the middle of something: the worker drops and reopens them.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from redis import Redis

from tsdb.keys import job_cancel_key
from workers.errors import JobCanceled

__all__ = ["CancelWatcher", "install_handler", "interruptible"]

log = logging.getLogger(__name__)

SIGNAL = signal.SIGUSR1
_running = threading.Event()


def install_handler() -> None:
    """Make :data:`SIGNAL` stop the running job (call once, in the worker's main thread)."""
    signal.signal(SIGNAL, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    if _running.is_set():
        _running.clear()  # one interruption per job
        raise JobCanceled("canceled on request while running")


@contextmanager
def interruptible() -> Iterator[None]:
    """The block in which a cancel may interrupt the job."""
    _running.set()
    try:
        yield
    finally:
        _running.clear()


class CancelWatcher:
    """Watches one job's cancel flag from a thread; use as ``with``."""

    def __init__(self, connection: Redis, job_id: str, interval: float = 0.2) -> None:
        self.connection = connection
        self.key = job_cancel_key(job_id)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cancel-watch", daemon=True)
        self._main = threading.main_thread().ident

    def __enter__(self) -> CancelWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                requested = bool(self.connection.exists(self.key))
            except Exception:  # Redis away: the job's own calls will notice
                log.debug("cannot read the cancel flag of %s", self.key, exc_info=True)
                continue
            if requested and self._main is not None:
                signal.pthread_kill(self._main, SIGNAL)
                return
