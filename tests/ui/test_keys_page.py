"""The keys page: an admin makes a key (its token shown once), sees it listed, revokes it; a
key without the admin scope is told it needs one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from api.security.access import KEYS_CHECK_SECONDS
from api.security.keys import KeyStore
from tests.ui.pages import Page
from tsdb.connection import connect

pytestmark = pytest.mark.browser


async def _make(redis_url: str, *scopes: str) -> str:
    client = connect(redis_url)
    try:
        return (await KeyStore(client).create("ui admin", scopes)).token
    finally:
        await client.aclose()


@pytest.fixture
def admin_token(redis_url: str) -> Iterator[str]:
    yield asyncio.run(_make(redis_url, "admin"))
    # open again for the tests after this one
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("tsapi:key*"):
        client.delete(key)
    client.close()
    time.sleep(KEYS_CHECK_SECONDS)


def _ids(page: Page) -> list[str]:
    return list(
        page.js(
            "return [...document.querySelectorAll('#key-rows tr[data-id]')].map(r => r.dataset.id)"
        )
    )


def test_an_admin_makes_sees_and_revokes_a_key(
    page: Page, admin_token: str, redis_url: str
) -> None:
    time.sleep(KEYS_CHECK_SECONDS)  # the server notices the first key
    page.open("#/keys", api_key=admin_token)
    page.wait(lambda: len(_ids(page)) == 1, what="the admin key listed")
    page.find("#key-name").send_keys("grafana")
    page.find("#key-filters").send_keys("kind=temp")
    page.find("#create-key").click()
    token = page.element("#new-token").text
    assert token.startswith("tsapi_")
    page.wait(lambda: len(_ids(page)) == 2, what="the new key listed")
    new_id = token.split("_")[1]
    row = page.find(f'#key-rows tr[data-id="{new_id}"]').text
    assert "grafana" in row and "read" in row and "filter kind=temp" in row
    page.screenshot("keys")
    page.find(f'#key-rows tr[data-id="{new_id}"] button').click()
    page.element("dialog button.danger").click()
    page.wait(lambda: _ids(page) == [admin_token.split("_")[1]], what="the key revoked")
    page.driver.get("about:blank")  # before the keys go: no request of this page after them


def test_a_key_without_admin_is_told_it_needs_one(
    page: Page, admin_token: str, redis_url: str
) -> None:
    reader = asyncio.run(_make(redis_url, "read"))
    time.sleep(KEYS_CHECK_SECONDS)
    page.open("#/keys", api_key=reader)
    notice = page.element("#keys-notice")
    assert "needs an admin key" in notice.text
    page.driver.get("about:blank")  # before the keys go: no request of this page after them
    page.driver.get_log("browser")  # the refusal (403) it shows is logged, as it should
