"""Who gets in: open on loopback without keys, then keys with scopes; 401 vs 403."""

from __future__ import annotations

import asyncio

import pytest
import redis
from quart import Quart
from quart.testing import QuartClient

from api.security.access import KEYS_CHECK_SECONDS
from api.security.keys import KeyStore
from tests.security.conftest import MakeKey, bearer

REMOTE = {"client": ("203.0.113.7", 40000)}


async def test_without_keys_the_api_is_open_to_loopback_clients(client: QuartClient) -> None:
    assert (await client.post("/v1/series", json={"key": "k"})).status_code == 201
    assert (
        await client.get("/v1/series/k", scope_base={"client": ("127.0.0.1", 1)})
    ).status_code == 200
    assert (await client.get("/v1/series/k", scope_base={"client": ("::1", 1)})).status_code == 200


async def test_without_keys_clients_beyond_loopback_are_refused(client: QuartClient) -> None:
    response = await client.get("/v1/series", scope_base=REMOTE)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert (await client.get("/healthz", scope_base=REMOTE)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"insecure": True}])
async def test_insecure_server_without_keys_serves_anyone(client: QuartClient) -> None:
    assert (await client.get("/v1/series", scope_base=REMOTE)).status_code == 200


async def test_once_a_key_exists_every_request_needs_one(
    client: QuartClient, make_key: MakeKey
) -> None:
    made = await make_key("read")
    missing = await client.get("/v1/series")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="tsapi"'
    body = await missing.get_json()
    assert body["type"] == "tag:tsapi,2026:problem:unauthorized"
    assert body["status"] == 401
    assert (await client.get("/v1/series", headers=bearer(made.token))).status_code == 200


async def test_unknown_wrong_malformed_and_revoked_keys_get_the_same_401(
    client: QuartClient, make_key: MakeKey, keystore: KeyStore
) -> None:
    made = await make_key("admin")
    revoked = await make_key("admin")
    await keystore.revoke(revoked.key.id)
    key_id = made.key.id
    wrong_secret = f"tsapi_{key_id}_{'A' * 43}"
    unknown_id = f"tsapi_{'0' * 12}_{made.token[-43:]}"
    tokens = [wrong_secret, unknown_id, revoked.token, "not-a-key", f"tsapi_{key_id}_"]
    answers = [await client.get("/v1/series", headers=bearer(t)) for t in tokens]
    assert {a.status_code for a in answers} == {401}
    bodies = {await a.get_data() for a in answers}
    assert len(bodies) == 1, bodies
    assert {a.headers["WWW-Authenticate"] for a in answers} == {
        'Bearer realm="tsapi", error="invalid_token"'
    }
    assert (await client.get("/v1/series", headers=bearer(made.token))).status_code == 200


async def test_a_key_without_the_scope_gets_403_naming_it(
    client: QuartClient, make_key: MakeKey
) -> None:
    reader = (await make_key("read")).token
    writer = (await make_key("write")).token
    admin = (await make_key("admin")).token
    denied = await client.post("/v1/series", json={"key": "k"}, headers=bearer(reader))
    assert denied.status_code == 403
    assert (await denied.get_json())["type"] == "tag:tsapi,2026:problem:forbidden"
    assert 'error="insufficient_scope", scope="write"' in denied.headers["WWW-Authenticate"]
    assert (
        await client.post("/v1/series", json={"key": "k"}, headers=bearer(writer))
    ).status_code == 201
    # write does not imply read: an ingest agent's key cannot read the data back
    assert (await client.get("/v1/series/k", headers=bearer(writer))).status_code == 403
    assert (await client.get("/v1/series/k", headers=bearer(reader))).status_code == 200
    assert (await client.delete("/v1/series/k", headers=bearer(admin))).status_code == 204


async def test_token_scheme_and_x_api_key_header_are_accepted(
    client: QuartClient, make_key: MakeKey
) -> None:
    token = (await make_key("read", "write")).token
    assert (
        await client.get("/v1/series", headers={"Authorization": f"Token {token}"})
    ).status_code == 200
    assert (await client.get("/v1/series", headers={"X-API-Key": token})).status_code == 200
    assert (
        await client.get("/v1/series", headers={"Authorization": f"Basic {token}"})
    ).status_code == 401


async def test_influxdb_writes_take_a_token_and_answer_in_influx_shape(
    client: QuartClient, make_key: MakeKey
) -> None:
    token = (await make_key("write")).token
    line = b"cpu,host=a usage=1 1700000000000000000\n"
    refused = await client.post("/api/v2/write?bucket=b", data=line)
    assert refused.status_code == 401
    assert (await refused.get_json())["code"] == "unauthorized"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    written = await client.post(
        "/api/v2/write?bucket=b", data=line, headers={"Authorization": f"Token {token}"}
    )
    assert written.status_code == 204
    assert (await client.get("/ping")).status_code == 204


async def test_health_docs_and_the_web_page_need_no_key(
    client: QuartClient, make_key: MakeKey
) -> None:
    await make_key("admin")
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/", "/help"):
        assert (await client.get(path)).status_code == 200, path


async def test_unknown_routes_need_a_key_so_they_reveal_nothing(
    client: QuartClient, make_key: MakeKey
) -> None:
    token = (await make_key("read")).token
    assert (await client.get("/v1/nothing-here")).status_code == 401
    assert (await client.get("/v1/nothing-here", headers=bearer(token))).status_code == 404


async def test_openapi_declares_the_bearer_scheme_and_refusals(
    client: QuartClient, make_key: MakeKey
) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    create = document["paths"]["/v1/series"]["post"]
    assert create["security"] == [{"apiKey": ["write"]}, {}]  # no key yet: open on loopback
    await make_key("read")
    await asyncio.sleep(KEYS_CHECK_SECONDS)
    document = await (await client.get("/openapi.json")).get_json()
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    create = document["paths"]["/v1/series"]["post"]
    assert create["security"] == [{"apiKey": ["write"]}]
    assert {"401", "403", "429"} <= set(create["responses"])
    assert document["paths"]["/healthz"]["get"]["security"] == []


async def test_redis_keeps_only_a_hash_of_the_secret(
    app: Quart, make_key: MakeKey, redis_url: str, keystore: KeyStore
) -> None:
    made = await make_key("read", name="dashboard")
    secret = made.token.split("_", 2)[2]
    with redis.Redis.from_url(redis_url) as raw:
        stored = b"".join(
            field + value
            for key in raw.scan_iter("tsapi:*")
            if raw.type(key) == b"hash"
            for field, value in raw.hgetall(key).items()
        )
    assert secret.encode() not in stored
    assert made.token.encode() not in stored
    listed = await keystore.list()
    assert [k.name for k in listed] == ["dashboard"]
    assert "token" not in listed[0].as_dict()


async def test_a_used_key_records_when(
    client: QuartClient, make_key: MakeKey, keystore: KeyStore
) -> None:
    made = await make_key("read")
    assert (await keystore.get(made.key.id)).last_used is None  # type: ignore[union-attr]
    await client.get("/v1/series", headers=bearer(made.token))
    used = await keystore.get(made.key.id)
    assert used is not None and used.last_used is not None


async def test_a_revoked_key_is_refused_at_once(
    client: QuartClient, make_key: MakeKey, keystore: KeyStore
) -> None:
    keep = await make_key("read")
    made = await make_key("read")
    assert (await client.get("/v1/series", headers=bearer(made.token))).status_code == 200
    assert await keystore.revoke(made.key.id)
    assert (await client.get("/v1/series", headers=bearer(made.token))).status_code == 401
    assert (await client.get("/v1/series", headers=bearer(keep.token))).status_code == 200
