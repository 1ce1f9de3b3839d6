"""Keys over HTTP: what `tsapi keys` does, for admin keys only."""

from __future__ import annotations

import asyncio

from quart.testing import QuartClient

from api.security.access import KEYS_CHECK_SECONDS
from tests.security.conftest import MakeKey, bearer


async def test_admin_makes_lists_shows_and_revokes_keys(
    client: QuartClient, make_key: MakeKey
) -> None:
    admin = bearer((await make_key("admin")).token)
    body = {
        "name": "lab1 ingest",
        "scopes": ["write"],
        "prefix": "lab1:",
        "filters": ["tenant=lab1"],
        "rate_limit": 5,
    }
    made = await client.post("/v1/keys", json=body, headers=admin)
    assert made.status_code == 201
    answer = await made.get_json()
    token, key = answer["token"], answer["key"]
    assert token.startswith(f"tsapi_{key['id']}_")
    assert made.headers["Location"] == f"/v1/keys/{key['id']}"
    assert key["scopes"] == ["write"] and key["prefix"] == "lab1:"
    assert key["filters"] == ["tenant=lab1"] and key["rate_limit"] == 5.0

    listed = await (await client.get("/v1/keys", headers=admin)).get_json()
    assert {k["id"] for k in listed["keys"]} >= {key["id"]}
    assert token not in str(listed)  # the secret is shown once, when made
    shown = await (await client.get(f"/v1/keys/{key['id']}", headers=admin)).get_json()
    assert shown["name"] == "lab1 ingest" and "token" not in shown

    ingest = bearer(token)  # the new key works, within its limits
    assert (
        await client.post("/v1/series", json={"key": "lab2:x"}, headers=ingest)
    ).status_code == 403
    revoked = await client.delete(f"/v1/keys/{key['id']}", headers=admin)
    assert revoked.status_code == 204
    assert (await client.get(f"/v1/keys/{key['id']}", headers=admin)).status_code == 404
    assert (await client.delete(f"/v1/keys/{key['id']}", headers=admin)).status_code == 404
    assert (await client.get("/v1/series", headers=ingest)).status_code == 401


async def test_read_and_write_keys_get_403_on_every_keys_route(
    client: QuartClient, make_key: MakeKey
) -> None:
    for scope in ("read", "write"):
        headers = bearer((await make_key(scope)).token)
        for method, path in (
            ("POST", "/v1/keys"),
            ("GET", "/v1/keys"),
            ("GET", "/v1/keys/0123456789ab"),
            ("DELETE", "/v1/keys/0123456789ab"),
        ):
            body = {"name": "x", "scopes": ["admin"]} if method == "POST" else None
            response = await client.open(path, method=method, json=body, headers=headers)
            assert response.status_code == 403, (scope, method, path)
            assert 'scope="admin"' in response.headers["WWW-Authenticate"]


async def test_an_admin_key_cannot_revoke_itself_over_http(
    client: QuartClient, make_key: MakeKey
) -> None:
    made = await make_key("admin")
    response = await client.delete(f"/v1/keys/{made.key.id}", headers=bearer(made.token))
    assert response.status_code == 409
    assert "another admin key" in (await response.get_json())["detail"]


async def test_the_first_key_can_be_made_over_http_on_an_open_server(client: QuartClient) -> None:
    made = await client.post("/v1/keys", json={"name": "first", "scopes": ["admin"]})
    assert made.status_code == 201
    await asyncio.sleep(KEYS_CHECK_SECONDS)
    assert (await client.get("/v1/series")).status_code == 401  # the server is closed now
    token = (await made.get_json())["token"]
    assert (await client.get("/v1/series", headers=bearer(token))).status_code == 200


async def test_bad_keys_are_refused_by_their_schema(client: QuartClient) -> None:
    for body in (
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": ["read"], "filters": ["a!=b"]},  # no positive match
        {"name": "x", "scopes": ["read"], "prefix": "a b"},
        {"name": "x", "scopes": ["read"], "rate_limit": 0},
    ):
        response = await client.post("/v1/keys", json=body)
        assert response.status_code == 422, body
