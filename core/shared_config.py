"""Settings shared by every process through Redis (``tsapi config set KEY VALUE``).

A hash in the Redis of ``TSAPI_REDIS_URL`` (:func:`tsdb.keys.config_key`) holds values for
the settings in :data:`SHARED_KEYS`. Every API process re-reads it every
``config_refresh`` seconds and every worker before each job, and layers it over its own
settings. Precedence, highest first: a ``TSAPI_*`` variable of the process, the shared
value, the ``TSAPI_CONFIG`` file, the default. Values are checked against the field of
:class:`core.settings.Settings` when set; a bad value written into the hash by other means is
logged and ignored.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from core.settings import Settings, SettingsError
from tsdb.connection import Client
from tsdb.errors import StoreUnavailable
from tsdb.faults import translate
from tsdb.keys import config_key

__all__ = [
    "SHARED_KEYS",
    "SettingRow",
    "SharedSettings",
    "Source",
    "check",
    "describe",
    "env_keys",
    "file_keys",
    "layered",
    "read_shared",
    "redacted",
    "set_shared",
    "unset_shared",
]

log = logging.getLogger(__name__)

SHARED_KEYS = (
    "job_timeout",
    "job_retries",
    "result_ttl",
    "worker_heartbeat",
    "max_body_bytes",
    "write_chunk_points",
    "rate_limit",
    "rate_burst",
)
"""Settings that may be shared; the others (URLs, ports, paths...) stay local."""

_SECRET_FIELDS = ("redis_url", "queue_url")


class Source(StrEnum):
    """Where a setting's value came from."""

    ENV = "env"
    REDIS = "redis"
    FILE = "file"
    DEFAULT = "default"


@dataclass(frozen=True)
class SettingRow:
    """One line of ``tsapi config show``."""

    name: str
    value: Any
    source: Source
    shareable: bool
    shadowed: str | None = None  # the shared value a TSAPI_* variable hides


def env_keys() -> set[str]:
    """Settings given by ``TSAPI_*`` variables of this process (names are case-insensitive)."""
    present = {name.lower() for name in os.environ}
    return {name for name in Settings.model_fields if f"tsapi_{name}" in present}


def file_keys() -> set[str]:
    """Settings given by the ``TSAPI_CONFIG`` file."""
    path = os.environ.get("TSAPI_CONFIG")
    if not path or not Path(path).is_file():
        return set()
    with open(path, "rb") as handle:
        return set(tomllib.load(handle)) & set(Settings.model_fields)


def check(name: str, value: str) -> Any:
    """The typed value of a shared setting; :class:`SettingsError` if it cannot be shared."""
    if name not in SHARED_KEYS:
        raise SettingsError(
            f"{name!r} cannot be shared; shared settings are: {', '.join(SHARED_KEYS)}"
        )
    field = Settings.model_fields[name]
    annotated: Any = Annotated[field.annotation, *field.metadata]
    adapter: TypeAdapter[Any] = TypeAdapter(annotated)
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise SettingsError(f"{name}: {exc.errors()[0]['msg']} (got {value!r})") from None


async def read_shared(client: Client) -> dict[str, str]:
    """The shared values as stored (names to strings)."""
    with translate():
        raw = await client.hgetall(config_key())
    return {_text(k): _text(v) for k, v in raw.items()}


async def set_shared(client: Client, name: str, value: str) -> Any:
    """Check and store one shared value; return it typed."""
    typed = check(name, value)
    with translate():
        await client.hset(config_key(), name, str(typed))
    return typed


async def unset_shared(client: Client, name: str) -> bool:
    """Remove one shared value; False if it was not set."""
    with translate():
        return bool(await client.hdel(config_key(), name))


def layered(base: Settings, shared: Mapping[str, str]) -> Settings:
    """``base`` with the shared values applied, except those a ``TSAPI_*`` variable sets."""
    local = env_keys()
    update: dict[str, Any] = {}
    for name, value in shared.items():
        if name in local:
            continue
        try:
            update[name] = check(name, value)
        except SettingsError as exc:
            log.warning("ignoring the shared setting %s: %s", name, exc)
    return base.model_copy(update=update)


def describe(base: Settings, shared: Mapping[str, str]) -> list[SettingRow]:
    """Every setting with the value in force here and where it came from."""
    current = layered(base, shared)
    local, in_file = env_keys(), file_keys()
    rows: list[SettingRow] = []
    for name in Settings.model_fields:
        value = getattr(current, name)
        shadowed = None
        if name in local:
            source = Source.ENV
            shadowed = shared.get(name) if name in SHARED_KEYS else None
        elif name in SHARED_KEYS and name in shared and _valid(name, shared[name]):
            source = Source.REDIS
        elif name in in_file:
            source = Source.FILE
        else:
            source = Source.DEFAULT
        if name in _SECRET_FIELDS and isinstance(value, str):
            value = redacted(value)
        rows.append(SettingRow(name, value, source, name in SHARED_KEYS, shadowed))
    return rows


def _valid(name: str, value: str) -> bool:
    try:
        check(name, value)
    except SettingsError:
        return False
    return True


class SharedSettings:
    """The settings in force in one process: its own, with the shared values on top."""

    def __init__(self, base: Settings) -> None:
        self.base = base
        self.current = base
        self._seen: dict[str, str] | None = None
        self._unreachable = False

    async def refresh(self, client: Client) -> Settings:
        """Re-read the shared values; return the settings now in force.

        When Redis cannot be reached the last known settings stay in force.
        """
        try:
            shared = await read_shared(client)
        except StoreUnavailable as exc:
            if not self._unreachable:  # once per outage, not at every refresh
                log.warning("%s; keeping the current settings until Redis answers", exc)
            self._unreachable = True
            return self.current
        self._unreachable = False
        if shared != self._seen:
            self._seen = shared
            self.current = layered(self.base, shared)
            changed = {
                name: getattr(self.current, name)
                for name in SHARED_KEYS
                if getattr(self.current, name) != getattr(self.base, name)
            }
            log.info("shared settings in force: %s", changed or "none")
        return self.current


def redacted(url: str) -> str:
    """A Redis URL without its password."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, userinfo = head.partition("://")
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{tail}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
