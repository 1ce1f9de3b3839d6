"""``tsapi rollups``: the rollup tiers of series, and the policies that give tiers by label.

A tier on the command line is ``BUCKET[:RETENTION]``: ``1m:90d`` (one-minute buckets kept 90
days), ``1d`` (daily buckets kept forever).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from tsapi_client.cli import (
    FORMATS,
    ClientGroup,
    _table,
    _wait,
    echo_json,
    iso,
    print_table,
    with_client,
)
from tsapi_client.models import RollupPolicy, Rollups, Tier
from tsapi_client.sync import Client

__all__ = ["rollups"]


@click.group(cls=ClientGroup)
def rollups() -> None:
    """Rollup tiers of series, and policies that give tiers by label filter."""


def _tier(text: str) -> dict[str, Any]:
    bucket, _, retention = text.partition(":")
    if not bucket:
        raise click.BadParameter(f"{text!r}: use BUCKET[:RETENTION], e.g. 1m:90d or 1d")
    return {"bucket": bucket, "retention": retention} if retention else {"bucket": bucket}


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _retention(tier: Tier) -> str:
    if not tier.retention_ms:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if tier.retention_ms % size == 0:
            return f"{tier.retention_ms // size}{unit}"
    return f"{tier.retention_ms}ms"


def _show(found: Rollups, fmt: str) -> None:
    if fmt == "json":
        echo_json(asdict(found))
        return
    if not found.tiers:
        click.echo(f"{found.key} has no rollup tiers")
        return
    state = "backfill pending" if found.pending else "filled"
    click.echo(f"{found.key}: tiers from {found.origin}, {state}")
    table = _table("TIER", "RETENTION", "COVERS FROM", "COVERS TO", "BUCKETS", "MEMORY")
    for tier in found.tiers:
        start, end = (tier.covers.start, tier.covers.end) if tier.covers else (None, None)
        table.add_row(
            tier.bucket,
            _retention(tier),
            iso(start),
            iso(end),
            str(tier.buckets),
            _size(tier.memory_bytes),
        )
    table.add_row("raw", "", "", "", str(found.raw_samples), _size(found.raw_memory_bytes))
    print_table(table)


@rollups.command("show")
@click.argument("key")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def rollups_show(api: Client, key: str, fmt: str) -> None:
    """The tiers of the series KEY: what each covers, its size, whether a backfill runs."""
    _show(api.rollups(key), fmt)


@rollups.command("set")
@click.argument("key")
@click.argument("tiers", nargs=-1, required=True)
@click.option("--wait", "wait_", is_flag=True, help="Wait for the backfill, with a progress bar.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def rollups_set(api: Client, key: str, tiers: tuple[str, ...], wait_: bool, fmt: str) -> None:
    """Give the series KEY the TIERS (BUCKET[:RETENTION], e.g. 1m:90d 1h:2y 1d), replacing
    its tiers; a backfill job fills them from the history it holds."""
    found = api.set_rollups(key, [_tier(t) for t in tiers])
    if found.backfill_job is not None:
        click.echo(f"backfill job {found.backfill_job} fills the tiers", err=fmt == "json")
        if wait_:
            _wait(api, api.get_job(found.backfill_job), None)
            found = api.rollups(key)
    _show(found, fmt)


@rollups.command("delete")
@click.argument("key")
@with_client
def rollups_delete(api: Client, key: str) -> None:
    """Remove the tiers of the series KEY (reads use raw samples)."""
    api.delete_rollups(key)
    click.echo(f"removed the rollup tiers of {key}")


@rollups.group("policy", cls=ClientGroup)
def policy() -> None:
    """Policies: tiers for every series a label filter selects, including later ones."""


def _policy_rows(policies: list[RollupPolicy], fmt: str) -> None:
    if fmt == "json":
        echo_json([asdict(p) for p in policies])
        return
    table = _table("NAME", "FILTER", "TIERS")
    for item in policies:
        tiers = " ".join(f"{t.bucket}:{_retention(t)}" for t in item.tiers)
        table.add_row(item.name, " ".join(item.filter), tiers)
    print_table(table)


def _body(policies: list[RollupPolicy]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "filter": p.filter,
            "tiers": [{"bucket": t.bucket_ms, "retention": t.retention_ms} for t in p.tiers],
        }
        for p in policies
    ]


def _applied(result: dict[str, Any]) -> None:
    applied = result["applied"]
    click.echo(
        f"{len(applied['updated'])} series given tiers, {len(applied['removed'])} lost theirs"
        + (f"; backfill job {result['backfill_job']}" if result.get("backfill_job") else "")
    )


@policy.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def policy_list(api: Client, fmt: str) -> None:
    """Every policy."""
    _policy_rows(api.rollup_policies(), fmt)


@policy.command("set")
@click.argument("name")
@click.argument("tiers", nargs=-1, required=True)
@click.option("--filter", "-f", "filters", multiple=True, required=True, help="Label filter.")
@with_client
def policy_set(api: Client, name: str, tiers: tuple[str, ...], filters: tuple[str, ...]) -> None:
    """Add (or replace) the policy NAME: the TIERS (BUCKET[:RETENTION]) for every series the
    --filter options select, now and later."""
    others = [p for p in api.rollup_policies() if p.name != name]
    body = [
        *_body(others),
        {"name": name, "filter": list(filters), "tiers": [_tier(t) for t in tiers]},
    ]
    _applied(api.set_rollup_policies(body))


@policy.command("delete")
@click.argument("name")
@with_client
def policy_delete(api: Client, name: str) -> None:
    """Remove the policy NAME, and the tiers it gave."""
    policies = api.rollup_policies()
    if name not in {p.name for p in policies}:
        raise click.ClickException(f"there is no policy {name!r}")
    _applied(api.set_rollup_policies(_body([p for p in policies if p.name != name])))
