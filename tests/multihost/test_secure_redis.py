"""Redis URLs with ACL users, passwords and TLS; `tsapi redis` refusing an open bind."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from click.testing import CliRunner
from quart.testing import QuartClient

from api.app import create_app
from core.settings import Settings
from tests.cluster.conftest import free_port_range
from tests.conftest import free_port, skip_or_fail_in_ci
from tsapi.cli import main
from tsdb.connection import connect
from tsdb.embedded import EmbeddedCluster, EmbeddedRedis
from tsdb.models import MultiRangeQuery, RangeQuery, SeriesConfig
from tsdb.store import TimeSeriesStore

PASSWORD = 'p@ss:w/rd "q" \\ é'  # to be quoted in URLs and escaped in redis.conf


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        skip_or_fail_in_ci("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_redis(
    certificate: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedRedis]:
    """Redis serving TLS only, to one ACL user (the default user is off)."""
    cert, key = certificate
    server = EmbeddedRedis(
        port=free_port(),
        data_dir=tmp_path_factory.mktemp("tls-redis"),
        user="tsapi",
        password=PASSWORD,
        tls_cert=cert,
        tls_key=key,
        log_to_file=True,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def tls_client(tls_redis: EmbeddedRedis, tmp_path: Path) -> AsyncIterator[QuartClient]:
    settings = Settings(redis_url=tls_redis.url, embedded_redis_dir=tmp_path / "unused")
    app = create_app(settings)
    async with app.test_app():
        yield app.test_client()


def test_the_url_names_the_user_the_quoted_password_and_the_ca(tls_redis: EmbeddedRedis) -> None:
    assert tls_redis.url.startswith(f"rediss://tsapi:{quote(PASSWORD, safe='')}@127.0.0.1:")
    assert "ssl_ca_certs=" in tls_redis.url


def test_plain_connections_and_the_default_user_are_refused(tls_redis: EmbeddedRedis) -> None:
    with socket.create_connection(("127.0.0.1", tls_redis.port), timeout=5) as plain:
        plain.sendall(b"PING\r\n")
        try:
            reply = plain.recv(100)
        except ConnectionResetError:
            reply = b""
    assert b"PONG" not in reply
    anonymous = tls_redis.url.replace(f"tsapi:{quote(PASSWORD, safe='')}@", "")
    with redis.Redis.from_url(anonymous) as client, pytest.raises(redis.AuthenticationError):
        client.ping()


async def test_the_api_serves_series_and_jobs_over_tls_with_an_acl_user(
    tls_client: QuartClient,
) -> None:
    response = await tls_client.post("/v1/series", json={"key": "secure", "labels": {"k": "v"}})
    assert response.status_code == 201
    response = await tls_client.post("/v1/series/secure/points", json=[[1, 1.5], [2, 2.5]])
    assert (await response.get_json())["written"] == 2
    response = await tls_client.get("/v1/query", query_string={"filter": "k=v"})
    assert (await response.get_json())["series"][0]["points"] == [[1, 1.5], [2, 2.5]]
    response = await tls_client.post("/v1/jobs", json={"type": "noop", "params": {}})
    assert response.status_code == 202  # the job queue speaks TLS too


def test_config_commands_work_over_tls(
    tls_redis: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSAPI_REDIS_URL", tls_redis.url)
    monkeypatch.delenv("TSAPI_QUEUE_URL", raising=False)
    result = CliRunner().invoke(main, ["config", "set", "result_ttl", "3600"])
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(main, ["config", "show"]).output
    assert ["result_ttl", "redis", "3600"] in [line.split()[:3] for line in shown.splitlines()]
    assert PASSWORD not in shown and quote(PASSWORD, safe="") not in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bind", "0.0.0.0"], "refusing to bind 0.0.0.0 without a password"),
        (["--bind", "127.0.0.1 10.1.2.3"], "without a password"),
        (["--user", "tsapi"], "--user needs --password"),
        (["--cluster", "3", "--user", "u", "--password", "p"], "not --user or TLS"),
    ],
)
def test_tsapi_redis_refuses_unsafe_or_contradictory_options(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TSAPI_REDIS_PASSWORD", raising=False)
    result = CliRunner().invoke(main, ["redis", *args])
    assert result.exit_code != 0
    assert message in result.output


@pytest.mark.slow
async def test_a_password_protected_cluster_answers_queries_across_shards(
    tmp_path: Path,
) -> None:
    cluster = EmbeddedCluster(
        port=free_port_range(3), data_dir=tmp_path / "cluster", password=PASSWORD
    )
    with cluster:
        client = connect(cluster.url)
        store = TimeSeriesStore(client)
        keys = [f"k:{i}" for i in range(12)]
        for key in keys:
            await store.create(key, SeriesConfig(labels={"g": "1"}))
            await store.add_many([(key, 1, 1.0)])
        found = await store.mrange(MultiRangeQuery(filters=["g=1"], range=RangeQuery()))
        assert sorted(s.key for s in found) == sorted(keys)
        await client.aclose()
