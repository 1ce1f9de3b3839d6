"""Fixtures for access tests: API keys made straight in the test Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from api.security.keys import KeyStore, NewKey
from tsdb.connection import connect

MakeKey = Callable[..., Awaitable[NewKey]]


@pytest.fixture
async def keystore(redis_url: str) -> AsyncIterator[KeyStore]:
    client = connect(redis_url)
    yield KeyStore(client)
    await client.aclose()


@pytest.fixture
def make_key(keystore: KeyStore) -> MakeKey:
    """``await make_key("read", "write", prefix=..., filters=[...])``: a key and its token."""

    async def make(*scopes: str, name: str = "test", **limits: Any) -> NewKey:
        return await keystore.create(name, scopes or ("read",), **limits)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
