"""Schemathesis against /openapi.json of a live server, without and with API keys.

Every operation is fuzzed with a fixed budget and derandomized generation. Checked: no 5xx,
every status, content type, header and body as documented, and with keys, that a request
without one is refused. Not checked: ``positive_data_acceptance``, since the API validates
more than a schema can say (the label filter grammar, time formats, series that must exist),
so some schema-valid requests are rightly refused with 404/422.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from api.security.access import KEYS_CHECK_SECONDS
from api.security.keys import KeyStore
from tests.reliability.conftest import LiveApi
from tsdb.connection import connect

CHECKS: list[Callable[..., Any]] = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
BUDGET = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def fuzz(base: str, headers: dict[str, str], extra: list[Callable[..., Any]]) -> list[str]:
    """Fuzz every operation; the failures found, one line each."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @BUDGET
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=[*CHECKS, *extra])

        try:
            run()
        except Exception as exc:  # every operation's failures, reported together
            failures.append(f"{operation.label}: {exc}"[:3000])
    return failures


def wait_until_keys_are_required(base: str, timeout: float = 10) -> None:
    """Each server process notices a first key within a few seconds: wait for all of them."""
    # Every process caches "are there keys?" for KEYS_CHECK_SECONDS; once that has passed
    # since the key was made, no process can still answer without one.
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


@pytest.mark.slow
def test_open_api_answers_as_documented(live_api: LiveApi) -> None:
    failures = fuzz(live_api.base, {}, [])
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_keyed_api_answers_as_documented_and_refuses_requests_without_a_key(
    live_api: LiveApi,
) -> None:
    token = asyncio.run(_admin_token(live_api.redis_url))
    wait_until_keys_are_required(live_api.base)
    failures = fuzz(live_api.base, {"Authorization": f"Bearer {token}"}, [checks.ignored_auth])
    assert not failures, "\n\n".join(failures)
