"""Failing fast while Redis is known to be unreachable (a circuit breaker).

Without it every request waits out the socket timeout on its own while Redis is frozen
(``SIGSTOP``, a cut link that drops packets), and holds a connection meanwhile. With it:

- **closed** (normal): commands go through. A connection error (refused, reset, closed) or a
  timeout *opens* the breaker.
- **open**: commands fail at once with a ``ConnectionError`` (which :mod:`tsdb.faults` makes
  :class:`~tsdb.errors.StoreUnavailable`, a 503), nothing is sent. Every ``probe_interval``
  seconds Redis is probed: by :meth:`Breaker.watch`, a task sending ``PING`` on a
  connection of its own with a short timeout (the API runs one), or else by letting one
  command through (with the connection's usual timeouts; a probe that never reports, its
  request canceled, is replaced after ``probe_timeout`` seconds).
- Any reply read from Redis, errors included, *closes* it again.

So the first request after Redis froze waits one socket timeout, the ones after it fail in
microseconds, and service resumes within ``probe_interval`` of Redis being back.

The breaker sits in the connections: :func:`guarded_class` makes a redis-py connection class
(async or sync, TCP, TLS or Unix socket) that consults one :class:`Breaker`, given to the
connection pool as the ``breaker`` keyword. One breaker per Redis server, shared by every
client of it in a process (the store, the key store, the job queue). It logs the outage
once when it starts and once when it ends, with how many commands it refused meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["Breaker", "BreakerOpen", "guarded_class"]

log = logging.getLogger(__name__)

C = TypeVar("C", bound=type)


class BreakerOpen(RedisConnectionError):
    """Refused without sending: Redis is known to be unreachable (the breaker is open)."""


class Breaker:
    """The state of one Redis server as this process sees it (thread-safe)."""

    def __init__(
        self,
        name: str = "Redis",
        *,
        probe_interval: float = 1.0,
        probe_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._reason = ""
        self._next_probe = 0.0
        self._probe_started: float | None = None
        self._refused = 0
        self.watched = False  # a watch() task probes: commands never do

    @property
    def is_open(self) -> bool:
        """True while Redis is known to be unreachable."""
        return self._opened_at is not None

    @property
    def down_for(self) -> float:
        """Seconds since the breaker opened (0 while closed)."""
        opened = self._opened_at
        return 0.0 if opened is None else self._clock() - opened

    def admit(self) -> bool:
        """Whether a command may be sent now; raises :class:`BreakerOpen` if not.

        Returns True when the caller is the probe of an open breaker (it must then report
        its outcome with :meth:`failed` or :meth:`succeeded`).
        """
        if self._opened_at is None:
            return False  # the common case, without the lock
        with self._lock:
            if self._opened_at is None:
                return False
            now = self._clock()
            stale = (
                self._probe_started is not None and now - self._probe_started > self.probe_timeout
            )
            free = self._probe_started is None or stale
            if not self.watched and free and now >= self._next_probe:
                self._probe_started = now
                return True
            self._refused += 1
            down = now - self._opened_at
            reason = self._reason
        raise BreakerOpen(
            f"{self.name} has not been reachable for {down:.1f} s ({reason}); "
            f"failing fast, checking again every {self.probe_interval:g} s"
        )

    def failed(self, exc: BaseException) -> None:
        """A connection error or a timeout: open (or keep open) the breaker."""
        with self._lock:
            now = self._clock()
            self._probe_started = None
            self._next_probe = now + self.probe_interval
            if self._opened_at is not None:
                return
            self._opened_at = now
            self._reason = _describe(exc)
            self._refused = 0
        log.warning(
            "%s unreachable (%s): failing fast until it answers again, checking every %g s",
            self.name,
            self._reason,
            self.probe_interval,
        )

    def succeeded(self) -> None:
        """A reply came back: close the breaker."""
        if self._opened_at is None and self._probe_started is None:
            return  # the common case, without the lock
        with self._lock:
            opened, self._opened_at = self._opened_at, None
            self._probe_started = None
            refused, self._refused = self._refused, 0
        if opened is not None:
            log.warning(
                "%s reachable again after %.1f s (%d command(s) refused meanwhile)",
                self.name,
                self._clock() - opened,
                refused,
            )

    async def watch(self, url: str, *, ping_timeout: float = 1.0) -> None:
        """Probe Redis at ``url`` every ``probe_interval`` seconds while the breaker is open,
        and close it as soon as a ``PING`` is answered (run as a task; cancel to stop)."""
        from redis.asyncio import Redis

        self.watched = True
        client = Redis.from_url(
            url, socket_timeout=ping_timeout, socket_connect_timeout=ping_timeout, retry=None
        )
        try:
            while True:
                await asyncio.sleep(self.probe_interval)
                if not self.is_open:
                    continue
                try:
                    await client.ping()
                except (RedisError, OSError):
                    with contextlib.suppress(RedisError, OSError):
                        await client.connection_pool.disconnect()
                    continue
                self.succeeded()
        finally:
            self.watched = False
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


_TRIPS = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


@functools.cache
def guarded_class(base: C) -> C:
    """A subclass of the redis-py connection class ``base`` (async or sync) that consults the
    :class:`Breaker` passed as its ``breaker`` keyword argument."""
    if _is_async(base):
        return _async_guarded(base)
    return _sync_guarded(base)


class _BreakerState:
    """What a guarded connection (async or sync) tells its :class:`Breaker`; it takes the
    breaker as the keyword argument ``breaker`` and passes the rest to the connection."""

    def __init__(self, *args: Any, breaker: Breaker, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaker = breaker
        self._probing = False

    def _admit(self) -> None:
        if not self._probing and self.breaker.admit():
            self._probing = True

    def _failed(self, exc: BaseException) -> None:
        self._probing = False
        self.breaker.failed(exc)

    def _succeeded(self) -> None:
        self._probing = False
        self.breaker.succeeded()


def _is_async(base: type) -> bool:
    return inspect.iscoroutinefunction(getattr(base, "read_response", None))


def _async_guarded(base: C) -> C:
    class AsyncGuarded(_BreakerState, base):  # type: ignore[valid-type,misc]
        async def connect(self) -> None:
            self._admit()
            try:
                await super().connect()
            except BreakerOpen:
                raise
            except _TRIPS as exc:
                self._failed(exc)
                raise

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            self._admit()
            try:
                await super().send_packed_command(command, check_health)
            except BreakerOpen:
                raise
            except _TRIPS as exc:
                self._failed(exc)
                raise

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                reply = await super().read_response(*args, **kwargs)
            except _TRIPS as exc:
                if not isinstance(exc, BreakerOpen):
                    self._failed(exc)
                raise
            except ResponseError:
                self._succeeded()  # Redis answered, with an error
                raise
            self._succeeded()
            return reply

    AsyncGuarded.__name__ = AsyncGuarded.__qualname__ = f"Guarded{base.__name__}"
    return AsyncGuarded  # type: ignore[return-value]


def _sync_guarded(base: C) -> C:
    class SyncGuarded(_BreakerState, base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            self._admit()
            try:
                super().connect()
            except BreakerOpen:
                raise
            except _TRIPS as exc:
                self._failed(exc)
                raise

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            self._admit()
            try:
                super().send_packed_command(command, check_health)
            except BreakerOpen:
                raise
            except _TRIPS as exc:
                self._failed(exc)
                raise

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                reply = super().read_response(*args, **kwargs)
            except _TRIPS as exc:
                if not isinstance(exc, BreakerOpen):
                    self._failed(exc)
                raise
            except ResponseError:
                self._succeeded()
                raise
            self._succeeded()
            return reply

    SyncGuarded.__name__ = SyncGuarded.__qualname__ = f"Guarded{base.__name__}"
    return SyncGuarded  # type: ignore[return-value]
