"""Shared settings in Redis: `tsapi config`, precedence, and live application by the app."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from quart import Quart
from quart.testing import QuartClient
from rq.job import Job
from rq.serializers import JSONSerializer

from core.settings import Settings
from core.shared_config import SharedSettings, layered
from tests.conftest import free_port
from tsapi.cli import main
from tsdb.connection import connect
from tsdb.keys import config_key


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"config_refresh": 0.1}


@pytest.fixture
def tsapi(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `tsapi ...` in-process against the test Redis, without stray TSAPI_* variables."""
    for name in list(os.environ):
        if name.upper().startswith("TSAPI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TSAPI_REDIS_URL", redis_url)

    def run(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    yield run


def rows(shown: str) -> dict[str, list[str]]:
    """`tsapi config show` as {setting: [source, value, ...]}."""
    return {line.split()[0]: line.split()[1:] for line in shown.splitlines()[1:]}


def test_config_set_show_and_unset_say_where_each_value_comes_from(
    tsapi: Any, tmp_path: Path
) -> None:
    assert "job_timeout = 30" in tsapi("config", "set", "job_timeout", "30")
    file = tmp_path / "tsapi.toml"
    file.write_text("result_ttl = 3600\njob_timeout = 45\n")

    shown = rows(tsapi("config", "show", env={"TSAPI_CONFIG": str(file)}))
    assert shown["job_timeout"][:2] == ["redis", "30"]  # the shared value beats the file
    assert shown["result_ttl"][:2] == ["file", "3600"]
    assert shown["job_retries"][:2] == ["default", "2"]
    assert shown["redis_url"][0] == "env"

    shown = rows(tsapi("config", "show", env={"TSAPI_JOB_TIMEOUT": "5"}))
    assert shown["job_timeout"] == ["env", "5", "(hides", "the", "shared", "value", "30)"]

    assert "no longer shared" in tsapi("config", "unset", "job_timeout")
    assert rows(tsapi("config", "show"))["job_timeout"][:2] == ["default", "600"]


def test_config_set_refuses_local_settings_and_invalid_values(tsapi: Any, redis_url: str) -> None:
    assert "not one of" in tsapi("config", "set", "redis_url", "redis://elsewhere", ok=False)
    assert "greater than or equal to 1" in tsapi("config", "set", "job_timeout", "0", ok=False)
    assert "valid integer" in tsapi("config", "set", "result_ttl", "soon", ok=False)
    with redis.Redis.from_url(redis_url) as client:
        assert client.hgetall(config_key()) == {}


def test_the_environment_wins_and_bad_shared_values_are_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TSAPI_JOB_RETRIES", "5")
    base = Settings(redis_url="redis://unused:1/0", job_retries=5)
    with caplog.at_level(logging.WARNING):
        current = layered(base, {"job_retries": "0", "job_timeout": "-3", "result_ttl": "60"})
    assert current.job_retries == 5
    assert current.job_timeout == base.job_timeout
    assert current.result_ttl == 60
    assert "ignoring the shared setting job_timeout" in caplog.text


async def test_shared_settings_keep_their_last_value_when_redis_is_away(redis_url: str) -> None:
    shared = SharedSettings(Settings(redis_url=redis_url))
    client = connect(redis_url)
    await client.hset(config_key(), "result_ttl", "120")
    assert (await shared.refresh(client)).result_ttl == 120
    await client.aclose()
    away = connect(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    assert (await shared.refresh(away)).result_ttl == 120
    await away.aclose()


async def test_a_serving_app_applies_shared_settings_within_its_refresh_interval(
    app: Quart, client: QuartClient, redis_url: str
) -> None:
    body = [[i, 1.0] for i in range(400)]  # about 4 KB of JSON
    await client.post("/v1/series", json={"key": "big"})
    assert (await client.post("/v1/series/big/points", json=body)).status_code == 200

    with redis.Redis.from_url(redis_url) as connection:
        connection.hset(config_key(), mapping={"max_body_bytes": 2048, "job_timeout": 42})
        deadline = time.monotonic() + 5
        while (await client.post("/v1/series/big/points", json=body)).status_code != 413:
            assert time.monotonic() < deadline, "the app never applied max_body_bytes"
            await asyncio.sleep(0.05)
        submitted = await client.post("/v1/jobs", json={"type": "noop", "params": {}})
        job_id = (await submitted.get_json())["id"]
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        assert job.timeout == 42

        connection.hdel(config_key(), "max_body_bytes")
        deadline = time.monotonic() + 5
        while (await client.post("/v1/series/big/points", json=body)).status_code == 413:
            assert time.monotonic() < deadline, "the app kept a setting that is no longer shared"
            await asyncio.sleep(0.05)
