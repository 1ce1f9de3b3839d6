"""`tsapi keys create|list|revoke`, and `tsapi serve` refusing to open up beyond loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
from click.testing import CliRunner

from tests.conftest import free_port, stop_process
from tests.test_server import wait_healthy
from tsapi.cli import main


def tsapi(redis_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"TSAPI_REDIS_URL": redis_url})
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_prints_the_token_alone_and_list_never_shows_it(redis_url: str) -> None:
    code, out, err = tsapi(
        redis_url, "keys", "create", "--name", "lab1 ingest", "--scope", "write",
        "--prefix", "lab1:", "--filter", "tenant=lab1",
    )  # fmt: skip
    assert code == 0, err
    token = out.strip()
    assert token.startswith("tsapi_") and "\n" not in token
    assert "shown only now" in err
    code, out, _ = tsapi(redis_url, "keys", "list", "--json")
    (listed,) = json.loads(out)["keys"]
    assert listed["name"] == "lab1 ingest"
    assert listed["scopes"] == ["write"]
    assert listed["prefix"] == "lab1:"
    assert listed["filters"] == ["tenant=lab1"]
    assert token not in out and token.split("_", 2)[2] not in out
    assert token.split("_")[1] == listed["id"]
    code, table, _ = tsapi(redis_url, "keys", "list")
    assert listed["id"] in table and "prefix lab1:, filter tenant=lab1" in table


def test_keys_revoke_deletes_the_key_and_says_when_there_is_none(redis_url: str) -> None:
    _, token, _ = tsapi(redis_url, "keys", "create", "--name", "n", "--scope", "read")
    key_id = token.split("_")[1]
    code, out, _ = tsapi(redis_url, "keys", "revoke", key_id)
    assert code == 0 and key_id in out
    code, _, err = tsapi(redis_url, "keys", "revoke", key_id)
    assert code == 1 and "no key" in err
    assert json.loads(tsapi(redis_url, "keys", "list", "--json")[1]) == {"keys": []}


def test_keys_create_refuses_bad_limits(redis_url: str) -> None:
    code, _, err = tsapi(
        redis_url, "keys", "create", "--name", "n", "--scope", "read", "--filter", "tenant!=x"
    )
    assert code == 1 and "at least one filter must match" in err
    code, _, err = tsapi(
        redis_url, "keys", "create", "--name", "n", "--scope", "read", "--prefix", "a b"
    )
    assert code == 1 and "prefix" in err
    code, _, _ = tsapi(redis_url, "keys", "create", "--name", "n", "--scope", "root")
    assert code == 2


def _serve(redis_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TSAPI_REDIS_URL": redis_url, "TSAPI_LOG_LEVEL": "WARNING"}
    env.pop("TSAPI_INSECURE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tsapi", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_serve_refuses_a_public_address_without_keys_unless_insecure(redis_url: str) -> None:
    refused = _serve(redis_url, "--host", "0.0.0.0", "--port", str(free_port()))
    _, err = refused.communicate(timeout=30)
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0 with no API key defined" in err.decode()
    port = free_port()
    insecure = _serve(redis_url, "--host", "0.0.0.0", "--port", str(port), "--insecure")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", insecure)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/series").status_code == 200
    finally:
        stop_process(insecure)
