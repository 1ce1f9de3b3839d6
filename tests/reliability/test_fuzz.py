"""Schemathesis (``--checks all``) against ``/openapi.json`` of a live server, once without
and once with API keys: every phase (examples, coverage, fuzzing, and the stateful phase,
which follows the document's links), at least 100 examples per operation, zero failures.

The rules JSON Schema cannot state are taught to schemathesis in ``st_hooks.py`` (positive
cases only). Without keys, ``POST /v1/keys`` is left out: the first key it made would close
the open server for the rest of the run (the keyed run covers it). The figures of each run
(operations, test cases, failures, seconds) go to ``test-artifacts/schemathesis-*.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.security.access import KEYS_CHECK_SECONDS
from api.security.keys import KeyStore
from tests.conftest import free_port, stop_process
from tests.reliability.conftest import LiveApi, start_serve
from tsdb.connection import connect
from tsdb.embedded import EmbeddedRedis

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CONFIG = Path(__file__).with_name("schemathesis.toml")  # per-operation check settings
EXAMPLES = 100


def schemathesis(base: str, name: str, *extra: str) -> dict[str, object]:
    """Run ``schemathesis run`` on ``base``; the JSON report, and its text output on failure."""
    report_dir = ARTIFACTS / f"schemathesis-{name}"
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / "report.json"
    started = time.monotonic()
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG)),
        *("run", f"{base}/openapi.json"),
        *("--checks", "all", "--max-examples", str(EXAMPLES)),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        # one worker: hypothesis' lambda descriptions are not thread-safe (Python 3.11)
        *("--workers", "1", "--seed", "17", "--suppress-health-check", "all"),
        *("--report", "json", "--report-json-path", str(report)),
        *extra,
    ]
    hooks = {"SCHEMATHESIS_HOOKS": "tests.reliability.st_hooks", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, env={**os.environ, **hooks}, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    seconds = time.monotonic() - started
    (report_dir / "output.txt").write_text(done.stdout + done.stderr)
    result: dict[str, object] = json.loads(report.read_text())
    summary = {
        "operations": result["operations"],
        "test_cases": result["test_cases"],
        "failures": result["failures"],
        "errors": result["errors"],
        "seconds": round(seconds, 1),
        "exit_code": done.returncode,
    }
    (ARTIFACTS / f"schemathesis-{name}.json").write_text(json.dumps(summary, indent=2))
    assert done.returncode == 0 and not result["failures"] and not result["errors"], done.stdout[
        -12000:
    ]
    return summary


def wait_until_keys_are_required(base: str, timeout: float = 10) -> None:
    """Each server process notices a first key within a few seconds: wait for all of them."""
    time.sleep(KEYS_CHECK_SECONDS + 0.5)
    deadline = time.monotonic() + timeout
    refused = 0
    while refused < 8:
        assert time.monotonic() < deadline, "the server still answers without a key"
        refused = refused + 1 if httpx.get(f"{base}/v1/series").status_code == 401 else 0
        if not refused:
            time.sleep(0.1)


async def _admin_token(redis_url: str) -> str:
    client = connect(redis_url)
    try:
        return (await KeyStore(client).create("fuzz", ["admin"])).token
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def fuzzed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """Two uvicorn processes on a Redis of their own: what a fuzzer does to the data (and
    to Redis) stays away from the other tests."""
    redis_server = EmbeddedRedis(
        port=free_port(), data_dir=tmp_path_factory.mktemp("fuzz-redis"), log_to_file=True
    )
    redis_server.start()
    process, base = start_serve(redis_server.url, "--workers", "2")
    try:
        yield LiveApi(base, redis_server.url)
    finally:
        stop_process(process)
        redis_server.stop()


def test_open_api_answers_as_its_document_says(fuzzed_api: LiveApi) -> None:
    live_api = fuzzed_api
    summary = schemathesis(live_api.base, "open", "--exclude-operation-id", "create_key")
    assert summary["test_cases"]["generated"] >= EXAMPLES  # type: ignore[index]


def test_keyed_api_answers_as_its_document_says_and_refuses_requests_without_a_key(
    fuzzed_api: LiveApi,
) -> None:
    live_api = fuzzed_api
    token = asyncio.run(_admin_token(live_api.redis_url))
    wait_until_keys_are_required(live_api.base)
    summary = schemathesis(live_api.base, "keyed", "--header", f"Authorization: Bearer {token}")
    assert summary["test_cases"]["generated"] >= EXAMPLES  # type: ignore[index]
