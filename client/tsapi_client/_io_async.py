"""What the async client does where the sync one blocks (see ``_io_sync``, its twin)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["maybe_await", "run_blocking", "sleep"]

T = TypeVar("T")


async def run_blocking(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking call (file I/O) in a thread."""
    return await asyncio.to_thread(func, *args)


async def sleep(seconds: float) -> None:
    """Wait without blocking the event loop."""
    await asyncio.sleep(seconds)


async def maybe_await(value: object) -> None:
    """Await a callback's result when it is awaitable (async callbacks are welcome)."""
    if inspect.isawaitable(value):
        await value
