"""Connecting to Redis (standalone or cluster) and checking the TimeSeries module.

URLs: ``redis://[[user]:password@]host:port/0``, ``rediss://...`` (TLS),
``unix:///path/redis.sock``, and ``redis+cluster://[[user]:password@]host:port,host:port``
(``rediss+cluster://`` for TLS) for Redis Cluster. Time series live in database 0.
TLS options go in the query string, as redis-py reads them:
``rediss://:pw@db:6380/0?ssl_ca_certs=/etc/tsapi/ca.pem`` (also ``ssl_certfile``,
``ssl_keyfile`` for client certificates, ``ssl_cert_reqs``, ``ssl_check_hostname``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tsdb.breaker import Breaker, guarded_class
from tsdb.errors import InvalidInput, ModuleMissing
from tsdb.faults import translate

__all__ = [
    "MIN_MODULE_VERSION",
    "Client",
    "ServerDefaults",
    "check_module",
    "connect",
    "is_cluster_url",
    "server_defaults",
    "timeseries_version",
]

log = logging.getLogger(__name__)

Client = Redis | RedisCluster
MIN_MODULE_VERSION = 11000  # RedisTimeSeries 1.10: every option the API exposes


def is_cluster_url(url: str) -> bool:
    """True for ``redis+cluster://`` and ``rediss+cluster://`` URLs."""
    return urlsplit(url).scheme in ("redis+cluster", "rediss+cluster")


def connect(
    url: str,
    *,
    socket_timeout: float = 5.0,
    connect_timeout: float = 3.0,
    max_connections: int = 64,
    breaker: Breaker | None = None,
) -> Client:
    """Make a client for ``url`` (nothing is sent until the first command).

    Replies use RESP3, so samples arrive as ints and floats without conversion.
    Connection errors are retried twice with a short backoff before they surface; a timeout
    is not retried (the command may have run, and a frozen Redis would be waited for again).
    With a ``breaker`` (standalone Redis only), commands fail at once while Redis is known
    to be unreachable (:mod:`tsdb.breaker`).
    """
    common: dict[str, Any] = {
        "protocol": 3,
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        "retry_on_error": [RedisConnectionError],
        "health_check_interval": 30,
    }
    if is_cluster_url(url):
        parts = urlsplit(url)
        nodes = []
        for hostport in parts.netloc.rpartition("@")[2].split(","):
            host, _, port = hostport.rpartition(":")
            if not host or not port.isdigit():
                raise InvalidInput(f"cluster URL node {hostport!r} must be host:port")
            nodes.append(ClusterNode(host.strip("[]"), int(port)))
        if parts.username:
            common["username"] = unquote(parts.username)
        if parts.password:
            common["password"] = unquote(parts.password)
        common.update(_tls_options(parts.query))
        common.pop("retry_on_error")
        return RedisCluster(
            startup_nodes=nodes,
            ssl=parts.scheme.startswith("rediss"),
            max_connections=max_connections,
            **common,
        )
    scheme = urlsplit(url).scheme
    if scheme not in _CONNECTION_CLASSES:
        raise InvalidInput(f"unsupported Redis URL scheme in {url!r}")
    if breaker is not None:
        common["connection_class"] = guarded_class(_CONNECTION_CLASSES[scheme])
        common["breaker"] = breaker
    return Redis.from_url(url, max_connections=max_connections, **common)


_CONNECTION_CLASSES: dict[str, type] = {
    "redis": Connection,
    "rediss": SSLConnection,
    "unix": UnixDomainSocketConnection,
}


async def check_module(client: Client) -> int:
    """Return the TimeSeries module version, or raise if Redis cannot serve time series.

    Raises :class:`StoreUnavailable` when the server cannot be reached and
    :class:`ModuleMissing` when it answers without the module.
    """
    with translate():
        modules = await _any_node(client, "MODULE", "LIST")
    version = timeseries_version(modules)
    if version is None:
        raise ModuleMissing(
            "Redis answers but the TimeSeries module is not loaded: use Redis Stack >= 7.2 or "
            "Redis >= 8, or start one with `tsapi redis`"
        )
    if version < MIN_MODULE_VERSION:
        raise ModuleMissing(
            f"RedisTimeSeries {version} is too old; tsapi needs {MIN_MODULE_VERSION} or newer"
        )
    return version


@dataclass(frozen=True)
class ServerDefaults:
    """What the module applies to a series created without these options."""

    duplicate_policy: str = "block"
    retention_ms: int = 0


async def server_defaults(client: Client) -> ServerDefaults:
    """The module's defaults: its ``ts-*`` configuration (Redis 8) or its load arguments
    (``DUPLICATE_POLICY``, ``RETENTION_POLICY``), else the module's own (block, keep forever)."""
    policy: str | None = None
    retention: str | None = None
    with translate():
        try:
            config = _as_dict(
                await _any_node(
                    client, "CONFIG", "GET", "ts-duplicate-policy", "ts-retention-policy"
                )
            )
            policy = config.get("ts-duplicate-policy") or None
            retention = config.get("ts-retention-policy") or None
        except ResponseError:  # pragma: no cover - servers that refuse CONFIG (managed Redis)
            pass
        if policy is None or retention is None:
            for module in await _any_node(client, "MODULE", "LIST"):
                info = {_text(k): v for k, v in _as_dict(module).items()}
                if _text(info.get("name", "")).lower() == "timeseries":
                    args = [_text(a).upper() for a in info.get("args") or []]
                    policy = policy or _after(args, "DUPLICATE_POLICY")
                    retention = retention or _after(args, "RETENTION_POLICY")
    return ServerDefaults(
        duplicate_policy=(policy or "block").lower(), retention_ms=int(retention or 0)
    )


async def _any_node(client: Client, *args: Any) -> Any:
    """A keyless server command: on a cluster, any node answers (they share the config)."""
    if isinstance(client, RedisCluster):
        return await client.execute_command(*args, target_nodes=client.get_default_node())
    return await client.execute_command(*args)


def _after(args: list[str], name: str) -> str | None:
    """The value after ``name`` in a module's argument list."""
    return args[args.index(name) + 1] if name in args[:-1] else None


def timeseries_version(modules: Any) -> int | None:
    """The TimeSeries module's version in a MODULE LIST reply (any client's parsing)."""
    for module in modules:
        info = {_text(k): v for k, v in _as_dict(module).items()}
        if _text(info.get("name", "")).lower() == "timeseries":
            return int(info.get("ver", 0))
    return None


_TLS_OPTIONS = ("ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")


def _tls_options(query: str) -> dict[str, Any]:
    """TLS options from a cluster URL's query string (redis-py's names)."""
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _TLS_OPTIONS:
            options[name] = value
        elif name == "ssl_check_hostname":
            options[name] = value.lower() in ("1", "true", "yes")
        else:
            raise InvalidInput(
                f"unknown option {name!r} in a cluster URL (known: "
                f"{', '.join((*_TLS_OPTIONS, 'ssl_check_hostname'))})"
            )
    return options


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_dict(entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict):
        return entry
    return dict(zip(entry[::2], entry[1::2], strict=False))
