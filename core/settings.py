"""One settings object for every tsapi process, from ``TSAPI_*`` variables and a file.

Precedence, highest first: keyword arguments, environment variables (``TSAPI_REDIS_URL``
...), the TOML file named by ``TSAPI_CONFIG`` (keys without the prefix, e.g.
``redis_url = "redis://db:6379/0"``), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "SettingsError", "load_settings"]

MiB = 1024 * 1024


class SettingsError(RuntimeError):
    """The settings cannot be loaded (bad value or unreadable file); one-line message."""


def _file_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource | None:
    path = os.environ.get("TSAPI_CONFIG")
    if not path:
        return None
    if not Path(path).is_file():
        raise SettingsError(f"TSAPI_CONFIG names {path!r}, which is not a readable file")
    return TomlConfigSettingsSource(settings_cls, toml_file=path)


class Settings(BaseSettings):
    """Every setting of tsapi. OPERATOR.md lists them with their defaults."""

    model_config = SettingsConfigDict(env_prefix="TSAPI_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6390/0",
        description="Redis with the TimeSeries module (redis://, rediss://, redis+cluster://).",
    )
    queue_url: str | None = Field(
        None,
        description="Redis for the job queue when not TSAPI_REDIS_URL (must not be a cluster).",
    )
    host: str = Field("127.0.0.1", description="Address `tsapi serve` binds to.")
    port: int = Field(5000, ge=1, le=65535, description="Port `tsapi serve` listens on.")
    server_workers: int = Field(
        2,
        ge=1,
        description="API server processes for `tsapi serve` (2 suits a 2-core machine that "
        "also runs Redis: +35 % small reads over 1, bench/RESULTS.md).",
    )
    max_body_bytes: int = Field(32 * MiB, ge=1024, description="Largest accepted request body.")
    request_timeout: float = Field(
        60.0, gt=0, description="Seconds a request handler may take before the client gets 504."
    )
    rate_limit: float = Field(
        0.0, ge=0, description="Requests per second per API key (or client address); 0 = no limit."
    )
    rate_burst: int = Field(
        0, ge=0, description="Requests a key may send at once (bucket size); 0 = twice the rate."
    )
    insecure: bool = Field(
        False, description="Serve clients beyond loopback even when no API key is defined."
    )
    write_chunk_points: int = Field(
        10_000, ge=1, description="Samples per TS.MADD call when writing batches."
    )
    redis_timeout: float = Field(
        5.0, gt=0, description="Seconds before a Redis call gives up (504); not retried."
    )
    redis_probe_interval: float = Field(
        1.0,
        gt=0,
        description="While Redis is known to be down, requests fail at once (503) and one is let "
        "through this often to see whether it is back.",
    )
    outage_log_interval: float = Field(
        30.0,
        gt=0,
        description="While Redis is down, the API logs the first refused request, then one "
        "summary line with a count this often.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [],
        description="Origins (https://host:port) whose pages may call the API from a browser; "
        "'*' for any; empty (the default) sends no CORS headers.",
    )
    job_timeout: int = Field(600, ge=1, description="Seconds a job may run before it is stopped.")
    job_retries: int = Field(
        2, ge=0, description="Retries of a job whose worker died or lost Redis mid-run."
    )
    result_ttl: int = Field(7 * 86_400, ge=1, description="Seconds job results and files are kept.")
    worker_heartbeat: int = Field(
        10, ge=1, description="Seconds between a worker's heartbeats during a job."
    )
    embedded_redis_port: int = Field(6390, description="Port of `tsapi redis` (make run).")
    embedded_redis_dir: Path = Field(
        Path(".tsapi/redis"), description="Data directory (AOF) of `tsapi redis`."
    )
    log_level: str = Field("INFO", description="Logging level of tsapi's processes.")
    config_refresh: float = Field(
        3.0, gt=0, description="Seconds between re-reads of the shared settings in Redis."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        """``TSAPI_CORS_ORIGINS`` is a comma-separated list (a TOML file gives a list)."""
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @property
    def job_queue_url(self) -> str:
        """Where the job queue lives: ``queue_url``, or else ``redis_url``."""
        return self.queue_url or self.redis_url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then ``TSAPI_*`` variables, then the ``TSAPI_CONFIG`` file."""
        file_source = _file_source(settings_cls)
        if file_source is None:
            return init_settings, env_settings
        return init_settings, env_settings, file_source


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"TSAPI_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read settings: {exc}") from None
