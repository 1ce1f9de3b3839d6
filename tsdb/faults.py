"""One fault policy: how redis-py's errors become the data layer's domain errors.

Everything that talks to Redis (the store, the bulk writer, the job queue, the key store,
the shared settings) goes through :func:`translate`, or through :func:`guarded`, which wraps
every public method of a class in it. The table:

=========================================================  ===============================
redis-py / socket error                                    domain error
=========================================================  ===============================
``TimeoutError`` (redis-py's and the built-in one)         :class:`StoreTimeout`
``ConnectionError`` (loading, auth, max clients...),        :class:`StoreUnavailable`
``OSError``, cluster errors, ``READONLY``, ``OOM``,
``TRYAGAIN``, ``MASTERDOWN``, ``NOPERM``, ``BUSY``,
other ``RedisError`` (bad reply...)
``ResponseError`` "key does not exist" (with ``key``)      :class:`SeriesNotFound`
any other ``ResponseError`` (the module refused)           ``refused(message)``, by default
                                                           :class:`InvalidInput`
=========================================================  ===============================

Domain errors pass through unchanged; anything else is a bug and is not touched.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from redis.exceptions import (
    ClusterError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tsdb.errors import InvalidInput, SeriesNotFound, StoreTimeout, StoreUnavailable, TsdbError

__all__ = [
    "DOES_NOT_EXIST",
    "DUPLICATE",
    "IGNORED",
    "RETENTION",
    "Refused",
    "domain_error",
    "guarded",
    "module_message",
    "point_reason",
    "point_reason_text",
    "translate",
]

Refused = Callable[[str], TsdbError]
"""Turns the module's message for a refused command into the domain error to raise."""

C = TypeVar("C", bound=type)

NOT_FOUND = ("the key does not exist", "the key is not a TSDB key")
_SERVER_STATES = (ClusterError, ReadOnlyError, OutOfMemoryError, TryAgainError, NoPermissionError)
_BUSY = ("BUSY ", "MASTERDOWN", "LOADING")


DOES_NOT_EXIST = "series does not exist"
DUPLICATE = "duplicate timestamp blocked by the series' duplicate policy"
RETENTION = "timestamp is older than the series' retention window"
IGNORED = (
    "ignored by the series' IGNORE filter: within ignore_max_time_diff and ignore_max_val_diff "
    "of the sample before it"
)


def module_message(exc: BaseException) -> str:
    """The module's message without its ``ERR``/``TSDB:`` prefixes."""
    message = str(exc).removeprefix("ERR ").removeprefix("TSDB: ")
    return message.split(" script: ", 1)[0]  # errors raised inside tsapi's Redis functions


def point_reason(exc: BaseException) -> str:
    """Why the module refused one sample, in the words every write endpoint reports."""
    return point_reason_text(module_message(exc))


def point_reason_text(message: str) -> str:
    """:func:`point_reason` for a message already stripped of its prefixes."""
    if "DUPLICATE_POLICY" in message or "BLOCK" in message:
        return DUPLICATE
    if "older than retention" in message:
        return RETENTION
    if any(m in message for m in NOT_FOUND):
        return DOES_NOT_EXIST
    return message


def domain_error(
    exc: BaseException, *, key: str | None = None, refused: Refused | None = None
) -> BaseException:
    """The domain error for ``exc`` (``exc`` itself when it is one, or not Redis' doing)."""
    if isinstance(exc, TsdbError):
        return exc
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return StoreTimeout(f"Redis did not answer in time: {exc}")
    if isinstance(exc, ResponseError) and not isinstance(exc, _SERVER_STATES):
        message = module_message(exc)
        if not str(exc).startswith(_BUSY):
            if key is not None and any(m in message for m in NOT_FOUND):
                return SeriesNotFound(key)
            return (refused or InvalidInput)(message)
    if isinstance(exc, RedisConnectionError | OSError):
        return StoreUnavailable(f"Redis is unreachable: {exc}")
    if isinstance(exc, RedisError | RedisClusterException):
        return StoreUnavailable(f"Redis cannot serve this request: {exc}")
    return exc


@contextmanager
def translate(*, key: str | None = None, refused: Refused | None = None) -> Iterator[None]:
    """Raise the domain error for any Redis error raised inside the block."""
    try:
        yield
    except (RedisError, RedisClusterException, OSError) as exc:
        mapped = domain_error(exc, key=key, refused=refused)
        if mapped is exc:
            raise
        raise mapped from exc


def guarded(cls: C) -> C:
    """Wrap every public method of ``cls`` (plain, async, async generator) in :func:`translate`,
    so that no raw redis-py error leaves the class."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        setattr(cls, name, _guard(member))
    return cls


def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            with translate():
                async for item in func(*args, **kwargs):
                    yield item

        return agen
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            with translate():
                return await func(*args, **kwargs)

        return coroutine

    @functools.wraps(func)
    def plain(*args: Any, **kwargs: Any) -> Any:
        with translate():
            return func(*args, **kwargs)

    return plain
