"""``tsapi config show|set|unset``: the settings shared by every process, kept in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from api.settings import Settings, SettingsError, load_settings
from api.shared_config import (
    SHARED_KEYS,
    Source,
    check,
    describe,
    env_keys,
    read_shared,
    set_shared,
    unset_shared,
)
from tsdb.connection import Client, connect
from tsdb.errors import TsdbError

__all__ = ["config"]

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _run(settings: Settings, action: Callable[[Client], Awaitable[T]]) -> T:
    async def run() -> T:
        client = connect(settings.redis_url, connect_timeout=3.0, socket_timeout=5.0)
        try:
            return await action(client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except (TsdbError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def config() -> None:
    """Show and change the settings every API process and worker shares (kept in Redis)."""


@config.command()
def show() -> None:
    """Every setting in force here, and where it comes from (env, redis, file, default)."""
    settings = _settings()
    rows = describe(settings, _run(settings, read_shared))
    width = max(len(row.name) for row in rows)
    click.echo(f"{'setting':<{width}}  {'source':<7}  value")
    for row in rows:
        note = "  (shared)" if row.shareable else ""
        if row.shadowed is not None:
            note = f"  (hides the shared value {row.shadowed})"
        click.echo(f"{row.name:<{width}}  {row.source:<7}  {row.value}{note}")


@config.command(name="set", epilog=f"Shared settings: {', '.join(SHARED_KEYS)}.")
@click.argument("name", metavar="NAME", type=click.Choice(SHARED_KEYS))
@click.argument("value")
def set_(name: str, value: str) -> None:
    """Share NAME = VALUE with every process (picked up within a few seconds)."""
    settings = _settings()
    try:
        check(name, value)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    typed = _run(settings, lambda client: set_shared(client, name, value))
    click.echo(
        f"{name} = {typed} (API processes apply it within {settings.config_refresh:g} s, "
        "workers before their next job)"
    )
    _warn_if_local(name)


@config.command()
@click.argument("name", metavar="NAME", type=click.Choice(SHARED_KEYS))
def unset(name: str) -> None:
    """Stop sharing NAME: each process falls back to its file or default value."""
    settings = _settings()
    if _run(settings, lambda client: unset_shared(client, name)):
        click.echo(f"{name} is no longer shared")
    else:
        click.echo(f"{name} was not shared")
    _warn_if_local(name)


def _warn_if_local(name: str) -> None:
    if name in env_keys():
        click.echo(
            f"note: TSAPI_{name.upper()} is set here; processes started with it keep their "
            f"own value ({Source.ENV} wins over {Source.REDIS})",
            err=True,
        )
