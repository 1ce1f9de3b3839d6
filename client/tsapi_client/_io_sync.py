"""What the sync client does where the async one awaits (see ``_io_async``, its twin)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["maybe_await", "run_blocking", "sleep"]

T = TypeVar("T")


def run_blocking(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking call (file I/O) here."""
    return func(*args)


def sleep(seconds: float) -> None:
    """Wait."""
    time.sleep(seconds)


def maybe_await(value: object) -> None:
    """Nothing to await in the sync client."""
