"""What every subcommand shares: the settings (built in this one place) and a Redis session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from core.settings import Settings, SettingsError, load_settings
from tsdb.connection import Client, connect
from tsdb.errors import TsdbError

__all__ = ["configure_logging", "run_with_redis", "settings"]

T = TypeVar("T")


def settings() -> Settings:
    """The settings of this process (``TSAPI_*`` variables, the ``TSAPI_CONFIG`` file),
    with a one-line error for a bad value; logging is configured from them."""
    try:
        loaded = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(loaded.log_level)
    return loaded


def configure_logging(level: str) -> None:
    """Log lines with time, level and logger name, at ``level``."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def run_with_redis(action: Callable[[Client], Awaitable[T]], url: str | None = None) -> T:
    """Run ``action`` with a client of ``url`` (default TSAPI_REDIS_URL), then close it; data
    layer errors become a one-line command error."""

    async def run() -> T:
        client = connect(url or settings().redis_url, connect_timeout=3.0, socket_timeout=5.0)
        try:
            return await action(client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except (TsdbError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
