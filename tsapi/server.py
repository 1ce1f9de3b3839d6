"""``tsapi serve``, ``redis``, ``worker`` and ``run``: the API, the embedded Redis Stack, a job
worker, or all of them at once."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from api.security.exposure import open_bind_refusal
from core.shared_config import redacted
from tsapi.context import run_with_redis
from tsapi.context import settings as load_settings
from tsapi.processes import reuse_port_supported, serve_processes
from tsdb.connection import check_module, connect
from tsdb.embedded import LOOPBACK, EmbeddedCluster, EmbeddedRedis, EmbeddedRedisError
from tsdb.errors import TsdbError

__all__ = ["redis", "run", "serve", "worker"]

log = logging.getLogger("tsapi")

PEM_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


async def _probe(url: str) -> int:
    client = connect(url, connect_timeout=2.0, socket_timeout=5.0)
    try:
        return await check_module(client)
    finally:
        await client.aclose()


@click.command()
@click.option("--host", default=None, help="Address to bind (default TSAPI_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default TSAPI_PORT or 5000).")
@click.option("--workers", type=int, default=None, help="Server processes (TSAPI_SERVER_WORKERS).")
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve beyond loopback even with no API key defined (TSAPI_INSECURE).",
)
def serve(host: str | None, port: int | None, workers: int | None, insecure: bool) -> None:
    """Serve the API on uvicorn (refuses to start without a usable Redis)."""
    settings = load_settings()
    try:
        version = asyncio.run(_probe(settings.redis_url))
    except TsdbError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    log.info("RedisTimeSeries %s found", version)
    insecure = insecure or settings.insecure
    refusal = run_with_redis(
        lambda client: open_bind_refusal(client, host or settings.host, insecure)
    )
    if refusal:
        raise click.ClickException(refusal)
    if insecure:
        os.environ["TSAPI_INSECURE"] = "true"  # read by the app in every server process
    options = {
        "loop": "uvloop",
        "http": "httptools",
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    count = workers or settings.server_workers
    if count > 1 and reuse_port_supported():
        serve_processes(count, host or settings.host, port or settings.port, options)
        return
    import uvicorn

    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=count,
        **options,  # type: ignore[arg-type]
    )


@click.command()
@click.option("--port", type=int, default=None, help="Port (default 6390; a cluster's first).")
@click.option(
    "--dir",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory for the AOF (default .tsapi/redis).",
)
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    help="Address(es) to bind, space-separated; beyond loopback needs --password.",
)
@click.option("--password", default=None, envvar="TSAPI_REDIS_PASSWORD", help="requirepass.")
@click.option("--user", default=None, help="ACL user for --password (the default user is off).")
@click.option(
    "--insecure-no-password",
    is_flag=True,
    help="Bind beyond loopback without a password (something else must guard the port).",
)
@click.option("--tls-cert", type=PEM_FILE, help="Serve TLS only, with this certificate (PEM).")
@click.option("--tls-key", type=PEM_FILE, help="Key of --tls-cert (PEM).")
@click.option(
    "--tls-ca",
    type=PEM_FILE,
    help="CA that signed --tls-cert (default: the certificate itself, if self-signed).",
)
@click.option(
    "--cluster",
    "shards",
    type=click.IntRange(min=1),
    default=None,
    help="Run a Redis Cluster of N shards on PORT..PORT+N-1 instead (for development).",
)
@click.option(
    "--appendfsync",
    type=click.Choice(["everysec", "always", "no"]),
    default="everysec",
    show_default=True,
    help="AOF fsync policy.",
)
def redis(
    port: int | None,
    data_dir: Path | None,
    bind: str,
    password: str | None,
    user: str | None,
    insecure_no_password: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    shards: int | None,
    appendfsync: str,
) -> None:
    """Run a local Redis Stack with the TimeSeries module, in the foreground."""
    settings = load_settings()
    exposed = any(address not in LOOPBACK for address in bind.split())
    if exposed and not password and not insecure_no_password:
        raise click.ClickException(
            f"refusing to bind {bind} without a password: pass --password (or set "
            "TSAPI_REDIS_PASSWORD), or --insecure-no-password if something else guards the port"
        )
    if user and not password:
        raise click.ClickException("--user needs --password")
    if tls_cert and not tls_key:
        raise click.ClickException("--tls-cert needs --tls-key")
    if shards and (user or tls_cert):
        raise click.ClickException("--cluster takes --password, but not --user or TLS")
    if exposed:
        log.warning(
            "Redis is reachable beyond loopback: open its port only to tsapi's hosts (the "
            "bundled RedisTimeSeries 1.12.2 predates the CVE-2024-51480 fix)"
        )
    server: EmbeddedRedis | EmbeddedCluster
    if shards:
        server = EmbeddedCluster(
            shards=shards,
            port=port or settings.embedded_redis_port,
            data_dir=(data_dir or settings.embedded_redis_dir) / "cluster",
            bind=bind,
            password=password,
            appendfsync=appendfsync,
        )
    else:
        server = EmbeddedRedis(
            port=port or settings.embedded_redis_port,
            data_dir=data_dir or settings.embedded_redis_dir,
            bind=bind,
            password=password,
            user=user,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_ca=tls_ca,
            appendfsync=appendfsync,
        )
    try:
        server.start()
    except EmbeddedRedisError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Redis Stack with TimeSeries ready at {redacted(server.url)} (data in {server.data_dir})"
    )
    processes = server.processes if isinstance(server, EmbeddedCluster) else [server.process]
    _wait_for_children([p for p in processes if p is not None], [server.stop])


@click.command()
@click.option("--queues", "-q", multiple=True, help="Queues to serve (default: tsapi).")
@click.option("--burst", is_flag=True, help="Stop once the queues are empty.")
def worker(queues: tuple[str, ...], burst: bool) -> None:
    """Run a job worker (RQ, JSON serializer) against TSAPI_REDIS_URL / TSAPI_QUEUE_URL."""
    from workers.worker import run_worker

    settings = load_settings()
    try:
        run_worker(settings, list(queues) or None, burst=burst)
    except TsdbError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--port", type=int, default=None, help="API port (default 5000).")
def run(port: int | None) -> None:
    """Run everything locally: the embedded Redis Stack, the API and a worker (make run)."""
    settings = load_settings()
    server = EmbeddedRedis(port=settings.embedded_redis_port, data_dir=settings.embedded_redis_dir)
    try:
        server.start()
    except EmbeddedRedisError as exc:
        raise click.ClickException(str(exc)) from None
    env = {**os.environ, "TSAPI_REDIS_URL": server.url}
    api = subprocess.Popen(
        [sys.executable, "-m", "tsapi", "serve", "--port", str(port or settings.port)], env=env
    )
    worker_process = subprocess.Popen([sys.executable, "-m", "tsapi", "worker"], env=env)
    click.echo(
        f"tsapi on http://{settings.host}:{port or settings.port} with one worker "
        f"(Redis at {server.url}); Ctrl-C stops everything"
    )
    assert server.process is not None
    _wait_for_children(
        [api, worker_process, server.process],
        [api.terminate, worker_process.terminate, server.stop],
    )


def _wait_for_children(
    children: list[subprocess.Popen[bytes]], stoppers: list[Callable[[], None]]
) -> None:
    """Wait until Ctrl-C/SIGTERM or until one child exits, then stop them all."""
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.2)
    finally:
        for stop in stoppers:
            stop()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [c.returncode for c in children if c.returncode not in (0, -15, None)]
    if failed and not stopping:
        raise click.ClickException(f"a process exited with status {failed[0]}")
