"""The client side of the ``tsapi`` command: series, write, ingest, query, latest, jobs, health.

Every command talks to the API through :class:`tsapi_client.Client`, at ``--url`` (``TSAPI_URL``)
with ``--api-key`` (``TSAPI_API_KEY``). Errors are one short line on stderr and exit code 1;
progress bars go to stderr, results to stdout.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tsapi_client._base import DEFAULT_URL, ENV_API_KEY, ENV_URL
from tsapi_client.errors import ApiError, TsapiError
from tsapi_client.models import (
    Aggregation,
    BucketTimestamp,
    DuplicatePolicy,
    Encoding,
    FillPolicy,
    Function,
    Job,
    JobStatus,
    Point,
    Reducer,
    Series,
)
from tsapi_client.sync import Client

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["COMMANDS", "ClientCommand", "ClientGroup", "main"]

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = click.Choice(["table", "json"])
SHOWN_PROBLEMS = 10


# -- errors ------------------------------------------------------------------------------------


def describe(exc: TsapiError) -> str:
    """An error as a few short lines for the terminal."""
    text = str(exc)
    if isinstance(exc, ApiError):
        lines = [text]
        for item in exc.errors[:SHOWN_PROBLEMS]:
            where = item.get("field", "")
            if "index" in item:
                where = f"point {item['index']} {where}".strip()
            lines.append(f"  {where}: {item.get('message', '')}")
        lines += [f"  {_rejection(r)}" for r in exc.rejected[:SHOWN_PROBLEMS]]
        hidden = max(len(exc.errors), len(exc.rejected)) - SHOWN_PROBLEMS
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        text = "\n".join(lines)
    return text


def _rejection(item: dict[str, Any]) -> str:
    where = f"line {item['line']}" if "line" in item else f"point {item.get('index', '?')}"
    key = f" ({item['key']})" if item.get("key") else ""
    return f"{where}{key}: {item.get('reason', 'rejected')}"


class ClientCommand(click.Command):
    """A command whose client errors end it with a short message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TsapiError as exc:
            raise click.ClickException(describe(exc)) from None
        except (ValueError, OSError) as exc:  # bad input from the command line, a file
            raise click.ClickException(str(exc)) from None


class ClientGroup(click.Group):
    """A group whose commands are :class:`ClientCommand`."""

    command_class = ClientCommand


def with_client(func: F) -> F:
    """Add ``--url``, ``--api-key``, ``--request-timeout``; pass an open ``Client`` as ``api``."""

    @click.option(
        "--url",
        envvar=ENV_URL,
        default=DEFAULT_URL,
        show_default=True,
        help=f"The API's base URL [env {ENV_URL}].",
    )
    @click.option(
        "--api-key", envvar=ENV_API_KEY, default=None, help=f"API key [env {ENV_API_KEY}]."
    )
    @click.option(
        "--request-timeout",
        "timeout",
        type=float,
        default=30.0,
        show_default=True,
        help="Seconds per request.",
    )
    @functools.wraps(func)
    def wrapper(url: str, api_key: str | None, timeout: float, **kwargs: Any) -> Any:
        with Client(url, api_key or None, timeout=timeout) as api:
            return func(api=api, **kwargs)

    return wrapper  # type: ignore[return-value]


# -- output ------------------------------------------------------------------------------------


def iso(ms: int | None) -> str:
    """Epoch ms as ISO-8601 UTC (milliseconds shown only when there are any)."""
    if ms is None:
        return ""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def number(value: float | None) -> str:
    """A value for a table: up to 15 significant digits, no trailing ``.0``."""
    return "" if value is None else f"{value:.15g}"


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 160, highlight=False)


def _table(*columns: str) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def print_table(table: Table) -> None:
    """Print a table without the padding rich leaves at the end of lines."""
    console = _console()
    with console.capture() as captured:
        console.print(table)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def labels_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def parse_labels(items: Sequence[str]) -> dict[str, str] | None:
    """``("city=austin", ...)`` as a dict; None when none were given."""
    if not items:
        return None
    labels: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise click.BadParameter(f"{item!r} is not name=value", param_hint="--label")
        labels[name] = value
    return labels


def series_dict(series: Series) -> dict[str, Any]:
    return asdict(series)


@contextmanager
def progress_bar(description: str, total: float | None, unit: str = "") -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``update(completed, description=None)``."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    if unit == "bytes":
        columns.append(DownloadColumn())
    columns.append(TimeElapsedColumn())
    console = _console(stderr=True)
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(completed: float, text: str | None = None) -> None:
            if text is None:
                bar.update(task, completed=completed)
            else:
                bar.update(task, completed=completed, description=text)

        yield update


# -- health, series ----------------------------------------------------------------------------


@click.command(cls=ClientCommand)
@with_client
def health(api: Client) -> None:
    """Check that the API is up and Redis ready."""
    status = api.health()
    click.echo(f"{status.status}: {api.base_url} (RedisTimeSeries {status.timeseries_version})")


@click.group(cls=ClientGroup)
def series() -> None:
    """Create, list, show, change and delete series."""


def _series_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--label", "-l", "labels", multiple=True, help="name=value, repeatable."),
            click.option("--retention", help="Keep samples this long (30d, 12h; 0 = forever)."),
            click.option(
                "--duplicate-policy",
                type=click.Choice([p.value for p in DuplicatePolicy]),
                help="What a write to an existing timestamp does.",
            ),
            click.option("--chunk-size", type=int, help="Bytes per chunk (a multiple of 8)."),
        ]
    ):
        func = option(func)
    return func


@series.command("create")
@click.argument("key")
@_series_options
@click.option("--encoding", type=click.Choice([e.value for e in Encoding]))
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def series_create(
    api: Client,
    key: str,
    labels: tuple[str, ...],
    retention: str | None,
    duplicate_policy: str | None,
    chunk_size: int | None,
    encoding: str | None,
    fmt: str,
) -> None:
    """Create the series KEY."""
    created = api.create_series(
        key,
        parse_labels(labels),
        retention=retention,
        duplicate_policy=duplicate_policy,
        chunk_size=chunk_size,
        encoding=encoding,
    )
    _show_series(created, fmt)


@series.command("list")
@click.option("--filter", "-f", "filters", multiple=True, help="Label filter, repeatable.")
@click.option("--limit", type=int, default=None, help="At most this many series.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "keys"]), default="table")
@with_client
def series_list(api: Client, filters: tuple[str, ...], limit: int | None, fmt: str) -> None:
    """List series (all, or those matching every --filter), sorted by key."""
    found = api.list_series(list(filters) or None, limit=limit)
    if fmt == "json":
        echo_json({"series": [{"key": s.key, "labels": s.labels} for s in found]})
    elif fmt == "keys":
        for item in found:
            click.echo(item.key)
    else:
        table = _table("KEY", "LABELS")
        for item in found:
            table.add_row(item.key, labels_text(item.labels))
        print_table(table)


@series.command("show")
@click.argument("key")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def series_show(api: Client, key: str, fmt: str) -> None:
    """Show the series KEY."""
    _show_series(api.get_series(key), fmt)


def _show_series(item: Series, fmt: str) -> None:
    if fmt == "json":
        echo_json(series_dict(item))
        return
    table = _table("FIELD", "VALUE")
    rows = {
        "key": item.key,
        "labels": labels_text(item.labels),
        "samples": str(item.total_samples),
        "first": iso(item.first_timestamp),
        "last": iso(item.last_timestamp),
        "retention_ms": str(item.retention_ms),
        "duplicate_policy": str(item.duplicate_policy or ""),
        "encoding": str(item.encoding),
        "chunk_size": str(item.chunk_size),
        "memory_bytes": str(item.memory_bytes),
        "source": item.source_key or "",
        "rules": ", ".join(f"{r.dest} ({r.aggregation} {r.bucket_ms} ms)" for r in item.rules),
    }
    for name, value in rows.items():
        table.add_row(name, value)
    print_table(table)


@series.command("alter")
@click.argument("key")
@_series_options
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def series_alter(
    api: Client,
    key: str,
    labels: tuple[str, ...],
    retention: str | None,
    duplicate_policy: str | None,
    chunk_size: int | None,
    fmt: str,
) -> None:
    """Change the series KEY (--label replaces the whole label set)."""
    changed = api.alter_series(
        key,
        labels=parse_labels(labels),
        retention=retention,
        duplicate_policy=duplicate_policy,
        chunk_size=chunk_size,
    )
    _show_series(changed, fmt)


@series.command("delete")
@click.argument("keys", nargs=-1, required=True)
@with_client
def series_delete(api: Client, keys: tuple[str, ...]) -> None:
    """Delete the series KEYS and their samples."""
    for key in keys:
        api.delete_series(key)
        click.echo(f"deleted {key}")


# -- writing -----------------------------------------------------------------------------------


@click.command(cls=ClientCommand)
@click.argument("key")
@click.argument("t")
@click.argument("v", type=float)
@click.option("--create", is_flag=True, help="Create the series if missing.")
@click.option("--label", "-l", "labels", multiple=True, help="Labels of a created series.")
@with_client
def write(api: Client, key: str, t: str, v: float, create: bool, labels: tuple[str, ...]) -> None:
    """Write the value V at time T (epoch ms, ISO-8601, now, -5m...) to the series KEY."""
    result = api.write(key, t, v, create=create, labels=parse_labels(labels))
    created = " (series created)" if result.created else ""
    click.echo(f"wrote {_count(result.written, 'point')} to {key}{created}")


@click.command(cls=ClientCommand)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "lp", "json"]),
    help="csv, lp (InfluxDB line protocol) or json; default: from the suffix (.gz too).",
)
@click.option("--create", is_flag=True, help="Create missing series (line protocol always does).")
@click.option("--label", "-l", "labels", multiple=True, help="Labels of created series.")
@click.option("--atomic", is_flag=True, help="Write nothing unless every point is valid.")
@click.option(
    "--precision",
    type=click.Choice(["ns", "us", "ms", "s"]),
    default="ns",
    show_default=True,
    help="Line-protocol timestamp unit.",
)
@with_client
def ingest(
    api: Client,
    file: Path,
    fmt: str | None,
    create: bool,
    labels: tuple[str, ...],
    atomic: bool,
    precision: str,
) -> None:
    """Write the points of FILE: CSV (key,t,v or t,<key>,...), line protocol or JSON.

    Points the server refuses are listed with their line; the exit code is then 1.
    """
    started = time.monotonic()
    size = file.stat().st_size
    with progress_bar(f"ingest {file.name}", size, unit="bytes") as update:
        summary = api.write_file(
            file,
            fmt,
            create=create,
            labels=parse_labels(labels),
            atomic=atomic,
            precision=precision,
            on_progress=lambda done, total: update(done),
        )
    seconds = time.monotonic() - started
    created = f", {summary.created} series created" if summary.created else ""
    requests = f" in {summary.requests} requests" if summary.requests > 1 else ""
    click.echo(
        f"{file.name}: {_count(summary.written, 'point')} written{created}, "
        f"{summary.rejected_count} rejected ({seconds:.1f} s{requests})"
    )
    if summary.rejected_count:
        count = summary.rejected_count
        lines = [f"{count} point{'s were' if count > 1 else ' was'} rejected:"]
        lines += [f"  {_rejection(r)}" for r in summary.rejected[:SHOWN_PROBLEMS]]
        hidden = count - len(lines) + 1
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        raise click.ClickException("\n".join(lines))


# -- reading -----------------------------------------------------------------------------------


@click.command(cls=ClientCommand)
@click.argument("key", required=False)
@click.option("--filter", "-f", "filters", multiple=True, help="Label filter (instead of KEY).")
@click.option("--from", "start", help="Start: epoch ms, ISO-8601, -1h, now, - (first).")
@click.option("--to", "end", help="End: epoch ms, ISO-8601, now, + (last).")
@click.option("--agg", type=click.Choice([a.value for a in Aggregation]), help="Aggregator.")
@click.option("--bucket", help="Bucket width with --agg: 1m, 1h, 500...")
@click.option("--align", help="Bucket alignment: start, end or a time.")
@click.option("--bucket-timestamp", type=click.Choice([b.value for b in BucketTimestamp]))
@click.option("--empty", is_flag=True, help="Report empty buckets too.")
@click.option("--filter-by-value", help="MIN,MAX: keep values in range.")
@click.option("--count", type=int, help="At most this many points or buckets.")
@click.option("--reverse", is_flag=True, help="Newest first.")
@click.option("--latest", is_flag=True, help="Include the open bucket of a compaction.")
@click.option("--max-points", type=int, help="At most this many points (the API picks buckets).")
@click.option(
    "--fill", type=click.Choice([f.value for f in FillPolicy]), help="Fill empty buckets."
)
@click.option("--fn", type=click.Choice([f.value for f in Function]), help="Transform the values.")
@click.option(
    "--tier",
    type=click.Choice(["auto", "raw"]),
    help="Aggregated reads: rollup tiers where they serve (auto), or raw samples only.",
)
@click.option("--group-by", help="With --filter: group series by this label...")
@click.option("--reduce", type=click.Choice([r.value for r in Reducer]), help="...and reduce.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@with_client
def query(
    api: Client,
    key: str | None,
    filters: tuple[str, ...],
    start: str | None,
    end: str | None,
    filter_by_value: str | None,
    group_by: str | None,
    reduce: str | None,
    fmt: str,
    **options: Any,
) -> None:
    """Points of the series KEY, or of every series the --filter options select.

    CSV output (key,t,v with epoch ms) can be fed back to `tsapi ingest`.
    """
    if (key is None) == (not filters):
        raise click.UsageError("give a KEY or at least one --filter (not both)")
    if filter_by_value is not None:
        low, _, high = filter_by_value.partition(",")
        try:
            options["filter_by_value"] = (float(low), float(high))
        except ValueError:
            raise click.BadParameter("use MIN,MAX", param_hint="--filter-by-value") from None
    if key is not None:
        if group_by or reduce:
            raise click.UsageError("--group-by and --reduce need --filter")
        points = api.range(key, start, end, **options)
        if fmt == "json":
            served = {"tiers": points.tiers} if points.tiers is not None else {}
            echo_json({"key": key, "points": points, **served})
            return
        found: list[tuple[str, dict[str, str], list[Point]]] = [(key, {}, points)]
    else:
        result = api.query(list(filters), start, end, group_by=group_by, reduce=reduce, **options)
        if fmt == "json":
            echo_json(
                {"series": [{"key": s.key, "labels": s.labels, "points": s.points} for s in result]}
            )
            return
        found = [(s.key, s.labels, s.points) for s in result]
    if fmt == "csv":
        click.echo("key,t,v")
        for name, _, pts in found:
            for t, v in pts:
                click.echo(f"{name},{t},{'' if v is None else repr(v)}")
        return
    table = _table("KEY", "TIME", "VALUE") if key is None else _table("TIME", "VALUE")
    for name, _, pts in found:
        for t, v in pts:
            row = (iso(t), number(v))
            table.add_row(*((name, *row) if key is None else row))
    print_table(table)


@click.command(cls=ClientCommand)
@click.option("--filter", "-f", "filters", multiple=True, required=True, help="Label filter.")
@click.option("--latest", is_flag=True, help="Include the open bucket of a compaction.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def latest(api: Client, filters: tuple[str, ...], latest: bool, fmt: str) -> None:
    """The newest sample of every series the filters select."""
    values = api.latest(list(filters), latest=latest)
    if fmt == "json":
        echo_json(
            {"series": [{"key": x.key, "labels": x.labels, "t": x.t, "v": x.v} for x in values]}
        )
        return
    table = _table("KEY", "TIME", "VALUE")
    for item in values:
        table.add_row(item.key, iso(item.t), number(item.v))
    print_table(table)


@click.command(cls=ClientCommand)
@click.argument("name", required=False)
@click.option("--filter", "-f", "filters", multiple=True, help="Only series matching these.")
@with_client
def labels(api: Client, name: str | None, filters: tuple[str, ...]) -> None:
    """Every label name in use, or every value of the label NAME, one per line."""
    found = api.labels(filters or None) if name is None else api.label_values(name, filters or None)
    for item in found:
        click.echo(item)


# -- jobs --------------------------------------------------------------------------------------


@click.group(cls=ClientGroup)
def jobs() -> None:
    """Submit analysis jobs, follow them and fetch their results and files.

    `tsapi jobs types` lists the job types the server runs, with what each does.
    """


def _count(n: int, noun: str) -> str:
    """``1 point``, ``2 points``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _param(item: str) -> tuple[str, Any]:
    name, eq, text = item.partition("=")
    if not eq or not name:
        raise click.BadParameter(f"{item!r} is not name=value", param_hint="--param")
    try:
        return name, json.loads(text)
    except ValueError:
        return name, text


def _job_dict(job: Job) -> dict[str, Any]:
    return asdict(job)


def _wait(api: Client, job: Job, timeout: float | None) -> Job:
    with progress_bar(f"{job.type} {job.id[:8]}", 100) as update:
        return api.wait_job(
            job,
            timeout=timeout,
            on_progress=lambda j: update(
                j.progress.percent, f"{j.type} {j.id[:8]}: {j.progress.message}"
            ),
        )


def _pick_file(job: Job, out: Path) -> str:
    """The job file ``--out`` asks for: the same name, else the same suffix."""
    if job.file(out.name) is not None:
        return out.name
    same = [f.name for f in job.files if Path(f.name).suffix == out.suffix]
    if not same:
        names = ", ".join(f.name for f in job.files) or "none"
        raise click.ClickException(
            f"job {job.id} made no {out.suffix or out.name} file (files: {names})"
        )
    return same[0]


def _after_wait(
    api: Client, job: Job, out: Path | None, open_: bool, started: float, quiet: bool = False
) -> None:
    names = ", ".join(f.name for f in job.files)
    if not quiet:
        click.echo(
            f"job {job.id} finished in {time.monotonic() - started:.1f} s"
            + (f"; files: {names}" if names else "")
        )
    if out is not None:
        data = api.download(job, _pick_file(job, out), out)
        if not quiet:
            click.echo(f"saved {out} ({len(data)} bytes)")
    if open_:
        target = out
        if target is None or target.suffix != ".html":
            html = next((f.name for f in job.files if f.name.endswith(".html")), None)
            name = html or (job.files[0].name if job.files else None)
            if name is None:
                raise click.ClickException(f"job {job.id} made no file to open")
            target = Path(tempfile.mkdtemp(prefix="tsapi-")) / name
            api.download(job, name, target)
        click.launch(str(target))


@jobs.command("submit")
@click.argument("job_type", metavar="TYPE")
@click.option("--param", "-p", "params", multiple=True, help="name=value (JSON values parsed).")
@click.option("--key", "-k", "keys", multiple=True, help="Series key (params.keys), repeatable.")
@click.option("--filter", "-f", "filters", multiple=True, help="Label filter (params.filter).")
@click.option("--from", "start", help="params.from")
@click.option("--to", "end", help="params.to")
@click.option("--after", "after", multiple=True, help="Start after this job (depends_on).")
@click.option("--wait", "wait_", is_flag=True, help="Wait for the end, with a progress bar.")
@click.option("--timeout", "wait_timeout", type=float, help="Seconds to wait at most.")
@click.option(
    "--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Save this file (waits)."
)
@click.option("--open", "open_", is_flag=True, help="Open the result in a browser (waits).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the job id.")
@with_client
def jobs_submit(
    api: Client,
    job_type: str,
    params: tuple[str, ...],
    keys: tuple[str, ...],
    filters: tuple[str, ...],
    start: str | None,
    end: str | None,
    after: tuple[str, ...],
    wait_: bool,
    wait_timeout: float | None,
    out: Path | None,
    open_: bool,
    quiet: bool,
) -> None:
    """Submit a job of TYPE (see `tsapi jobs types`), e.g.

    tsapi jobs submit plot -f kind=temp --from -7d -p title=Temperatures --out plot.png
    """
    body = dict(_param(p) for p in params)
    if keys:
        body["keys"] = list(keys)
    if filters:
        body["filter"] = list(filters)
    if start is not None:
        body["from"] = start
    if end is not None:
        body["to"] = end
    started = time.monotonic()
    job = api.submit_job(job_type, body, depends_on=after)
    if quiet:
        click.echo(job.id)
    else:
        click.echo(f"submitted {job.type} job {job.id} ({job.status})")
    if wait_ or out is not None or open_:
        _after_wait(api, _wait(api, job, wait_timeout), out, open_, started, quiet)


@jobs.command("wait")
@click.argument("job_id")
@click.option("--timeout", "wait_timeout", type=float, help="Seconds to wait at most.")
@click.option(
    "--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Save this file."
)
@click.option("--open", "open_", is_flag=True, help="Open the result in a browser.")
@with_client
def jobs_wait(
    api: Client, job_id: str, wait_timeout: float | None, out: Path | None, open_: bool
) -> None:
    """Wait for a job to end, with a progress bar (exit code 1 if it fails)."""
    started = time.monotonic()
    _after_wait(api, _wait(api, api.get_job(job_id), wait_timeout), out, open_, started)


@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]))
@click.option("--type", "job_type", help="Only jobs of this type.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def jobs_list(api: Client, status: str | None, job_type: str | None, limit: int, fmt: str) -> None:
    """Jobs, newest first."""
    found = api.list_jobs(status=status, type=job_type, limit=limit)
    if fmt == "json":
        echo_json({"jobs": [_job_dict(j) for j in found]})
        return
    table = _table("ID", "TYPE", "STATUS", "PROGRESS", "CREATED", "ERROR")
    for job in found:
        table.add_row(
            job.id,
            job.type,
            str(job.status),
            f"{job.progress.percent}%",
            iso(job.created_at),
            (job.error or "")[:60],
        )
    print_table(table)


@jobs.command("show")
@click.argument("job_id")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@with_client
def jobs_show(api: Client, job_id: str, fmt: str) -> None:
    """Show a job: status, progress, times, error and files."""
    job = api.get_job(job_id)
    if fmt == "json":
        echo_json(_job_dict(job))
        return
    table = _table("FIELD", "VALUE")
    rows = {
        "id": job.id,
        "type": job.type,
        "status": str(job.status),
        "progress": f"{job.progress.percent}% {job.progress.message}",
        "params": json.dumps(job.params),
        "created": iso(job.created_at),
        "started": iso(job.started_at),
        "ended": iso(job.ended_at),
        "worker": job.worker or "",
        "attempts": str(job.attempts),
        "error": job.error or "",
        "files": ", ".join(f"{f.name} ({f.size} bytes)" for f in job.files),
    }
    for name, value in rows.items():
        table.add_row(name, value)
    print_table(table)


@jobs.command("cancel")
@click.argument("job_id")
@with_client
def jobs_cancel(api: Client, job_id: str) -> None:
    """Cancel a queued job, or stop a running one at its next step."""
    job = api.cancel_job(job_id)
    click.echo(f"job {job.id}: {job.status}{' (cancel requested)' if job.cancel_requested else ''}")


@jobs.command("result")
@click.argument("job_id")
@with_client
def jobs_result(api: Client, job_id: str) -> None:
    """Print the JSON result of a finished job."""
    echo_json(api.job_result(job_id))


@jobs.command("download")
@click.argument("job_id")
@click.argument("name")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Default: NAME.")
@with_client
def jobs_download(api: Client, job_id: str, name: str, out: Path | None) -> None:
    """Save the file NAME of a finished job (plot.png, plot.html, data.csv, stats.csv...)."""
    target = out or Path(name)
    data = api.download(job_id, name, target)
    click.echo(f"saved {target} ({len(data)} bytes)")


@jobs.command("types")
@with_client
def jobs_types(api: Client) -> None:
    """The job types this server runs."""
    table = _table("TYPE", "DESCRIPTION")
    for kind in api.job_types():
        table.add_row(kind.name, kind.description)
    print_table(table)


COMMANDS: list[click.Command] = [health, series, write, ingest, query, latest, labels, jobs]
"""The client's commands: ``tsapi-client`` here, and ``tsapi`` of the server (tsapi/cli.py)."""


@click.group(commands=COMMANDS)
@click.version_option(package_name="tsapi-client")
def main() -> None:
    """tsapi-client: read and write a tsapi server's series and run its jobs."""
