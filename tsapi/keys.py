"""``tsapi keys create|list|revoke``.

Keys live in the Redis of ``TSAPI_REDIS_URL`` (under ``tsapi:key:*``): the one Redis every
API process must reach anyway, so a key made or revoked here holds on every server at once.
The job queue's Redis (``TSAPI_QUEUE_URL``) may be another one, and workers need no keys.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from api.security.keys import ApiKey, KeyStore, Scope
from tsapi.context import run_with_redis

__all__ = ["keys"]

T = TypeVar("T")


def _run(action: Callable[[KeyStore], Awaitable[T]]) -> T:
    return run_with_redis(lambda client: action(KeyStore(client)))


def _when(ms: int | None) -> str:
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _limits(key: ApiKey) -> str:
    parts = []
    if key.prefix:
        parts.append(f"prefix {key.prefix}")
    parts.extend(f"filter {f}" for f in key.filters)
    if key.rate_limit:
        parts.append(f"{key.rate_limit:g}/s")
    return ", ".join(parts) or "-"


@click.group()
def keys() -> None:
    """Manage API keys (kept in the Redis of TSAPI_REDIS_URL, as hashes only)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for (shown by `keys list`).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice([s.value for s in Scope]),
    help="read (GET), write (POST/PUT/PATCH/DELETE), admin (everything); repeatable.",
)
@click.option("--prefix", default=None, help="Only series whose key starts with this.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    help="Only series whose labels match this filter (label=value...); repeatable.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second for this key (instead of TSAPI_RATE_LIMIT).",
)
def create_key(
    name: str,
    scopes: tuple[str, ...],
    prefix: str | None,
    filters: tuple[str, ...],
    rate_limit: float | None,
) -> None:
    """Make a key and print its token (on stdout, alone): it is shown this once."""
    made = _run(
        lambda store: store.create(
            name, scopes, prefix=prefix, filters=filters, rate_limit=rate_limit
        )
    )
    key = made.key
    click.echo(
        f"Created key {key.id} ({key.name}): scopes {', '.join(sorted(key.scopes))}; "
        f"limits {_limits(key)}. The token below is shown only now; send it as "
        "'Authorization: Bearer <token>'.",
        err=True,
    )
    click.echo(made.token)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def list_keys(as_json: bool) -> None:
    """Every key: id, name, scopes, limits, when made and last used (never the secret)."""
    found = _run(lambda store: store.list())
    if as_json:
        click.echo(json.dumps({"keys": [k.as_dict() for k in found]}, indent=2))
        return
    rows: list[tuple[Any, ...]] = [("ID", "NAME", "SCOPES", "LIMITS", "CREATED", "LAST USED")]
    rows += [
        (
            k.id,
            k.name,
            ",".join(sorted(k.scopes)),
            _limits(k),
            _when(k.created_at),
            _when(k.last_used),
        )
        for k in found
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if not found:
        click.echo("(no keys: the API is open to clients on loopback only)", err=True)


@keys.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Delete a key; requests with it are refused from now on."""
    if not _run(lambda store: store.revoke(key_id)):
        raise click.ClickException(f"no key {key_id!r} (see `tsapi keys list`)")
    click.echo(f"Revoked key {key_id}")
