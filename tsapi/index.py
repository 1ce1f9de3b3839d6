"""``tsapi index check|rebuild``: the series index tsapi keeps in Redis."""

from __future__ import annotations

import click

from tsapi.context import run_with_redis
from tsdb.index_build import IndexReport, check_index, rebuild_index

__all__ = ["index"]


@click.group()
def index() -> None:
    """Check or rebuild the index of series and labels tsapi keeps in Redis."""


@index.command()
def check() -> None:
    """Compare the index with the series Redis holds; exit 1 if they differ."""
    report: IndexReport = run_with_redis(check_index)
    click.echo(
        f"{report.series} series in Redis, {report.indexed} indexed; index "
        f"{', '.join(sorted(set(report.states)))}"
    )
    for title, total, sample in (
        ("series missing from the index", report.missing_total, report.missing),
        ("indexed keys without a series", report.stale_total, report.stale),
        ("label counts that differ", report.wrong_total, report.wrong_counts),
    ):
        if total:
            more = f" (first {len(sample)})" if total > len(sample) else ""
            click.echo(f"{total} {title}{more}:")
            for item in sample:
                click.echo(f"  {item}")
    if not report.exact:
        click.echo("the index is not exact: run `tsapi index rebuild`")
        raise SystemExit(1)
    click.echo("the index is exact")


@index.command()
def rebuild() -> None:
    """Rebuild the index from the series Redis holds (after writes behind tsapi's back, or
    resharding a cluster); writes may go on meanwhile."""
    done = run_with_redis(rebuild_index)
    click.echo(
        f"index rebuilt: {done.series} series on {done.shards} shard(s) in {done.seconds:.1f} s"
    )
