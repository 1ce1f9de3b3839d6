"""The ``tsapi`` command group, with subcommands loaded only when they are used."""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["COMMANDS", "LazyGroup", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "tsapi.server:serve",
        "Serve the API on uvicorn (refuses to start without a usable Redis).",
    ),
    "redis": (
        "tsapi.server:redis",
        "Run a local Redis Stack with the TimeSeries module, in the foreground.",
    ),
    "run": (
        "tsapi.server:run",
        "Run everything locally: the embedded Redis Stack, the API and a worker (make run).",
    ),
    "worker": (
        "tsapi.server:worker",
        "Run a job worker (RQ, JSON serializer) against TSAPI_REDIS_URL / TSAPI_QUEUE_URL.",
    ),
    "keys": (
        "tsapi.keys:keys",
        "Manage API keys (kept in the Redis of TSAPI_REDIS_URL, as hashes only).",
    ),
    "config": (
        "tsapi.config:config",
        "Show and change the settings every API process and worker shares (kept in Redis).",
    ),
    "index": (
        "tsapi.index:index",
        "Check or rebuild the index of series and labels tsapi keeps in Redis.",
    ),
    "health": (
        "tsapi_client.cli:health",
        "Check that the API is up and Redis ready.",
    ),
    "series": (
        "tsapi_client.cli:series",
        "Create, list, show, change and delete series.",
    ),
    "write": (
        "tsapi_client.cli:write",
        "Write the value V at time T (epoch ms, ISO-8601, now, -5m...) to the series KEY.",
    ),
    "ingest": (
        "tsapi_client.cli:ingest",
        "Write the points of FILE: CSV (key,t,v or t,<key>,...), line protocol or JSON.",
    ),
    "query": (
        "tsapi_client.cli:query",
        "Points of the series KEY, or of every series the --filter options select.",
    ),
    "rollups": (
        "tsapi_client.cli_rollups:rollups",
        "Rollup tiers of series, and policies that give tiers by label filter.",
    ),
    "latest": (
        "tsapi_client.cli:latest",
        "The newest sample of every series the filters select.",
    ),
    "labels": (
        "tsapi_client.cli:labels",
        "Every label name in use, or every value of the label NAME, one per line.",
    ),
    "jobs": (
        "tsapi_client.cli:jobs",
        "Submit analysis jobs, follow them and fetch their results and files.",
    ),
}
"""Every subcommand: where it lives, and the one-line help ``tsapi --help`` shows for it (a
test checks each line against the command's own help)."""


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is asked for."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            return load(self.lazy[cmd_name][0])
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with the help lines of the table, importing none of them."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [(name, _shortened(self.lazy[name][1], limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shortened(text: str, limit: int) -> str:
    """``text`` cut at a word to fit ``limit`` characters, with "..." when cut (as click does)."""
    if len(text) <= limit:
        return text
    return text[: limit - 3].rsplit(" ", 1)[0] + "..."


def _version(ctx: click.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from core.version import VERSION

        click.echo(f"tsapi, version {VERSION}")
        ctx.exit()


def load(target: str) -> click.Command:
    """The command object at ``module:attribute``."""
    module, _, attribute = target.partition(":")
    try:
        command = getattr(importlib.import_module(module), attribute)
    except ImportError as exc:
        raise click.ClickException(f"this command needs a package that is missing: {exc}") from exc
    if not isinstance(command, click.Command):  # pragma: no cover - a wrong table entry
        raise TypeError(f"{target} is not a click command")
    return command


main = LazyGroup(
    name="tsapi",
    lazy=COMMANDS,
    help="tsapi: a REST API over Redis TimeSeries, with analysis jobs.",
    params=[
        click.Option(
            ["--version"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=lambda ctx, _param, value: _version(ctx, value),
            help="Show the version and exit.",
        )
    ],
)
