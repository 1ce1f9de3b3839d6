"""``tsapi config show|set|unset``: the settings shared by every process, kept in Redis."""

from __future__ import annotations

import click

from core.settings import SettingsError
from core.shared_config import (
    SHARED_KEYS,
    Source,
    check,
    describe,
    env_keys,
    read_shared,
    set_shared,
    unset_shared,
)
from tsapi.context import run_with_redis
from tsapi.context import settings as load_settings

__all__ = ["config"]


@click.group()
def config() -> None:
    """Show and change the settings every API process and worker shares (kept in Redis)."""


@config.command()
def show() -> None:
    """Every setting in force here, and where it comes from (env, redis, file, default)."""
    settings = load_settings()
    rows = describe(settings, run_with_redis(read_shared))
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
    settings = load_settings()
    try:
        check(name, value)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    typed = run_with_redis(lambda client: set_shared(client, name, value))
    click.echo(
        f"{name} = {typed} (API processes apply it within {settings.config_refresh:g} s, "
        "workers before their next job)"
    )
    _warn_if_local(name)


@config.command()
@click.argument("name", metavar="NAME", type=click.Choice(SHARED_KEYS))
def unset(name: str) -> None:
    """Stop sharing NAME: each process falls back to its file or default value."""
    if run_with_redis(lambda client: unset_shared(client, name)):
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
