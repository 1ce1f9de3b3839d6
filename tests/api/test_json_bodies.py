"""Every route that takes a JSON body answers 415, with one message, to a JSON body sent
without a JSON content type; and the document says so."""

from __future__ import annotations

import orjson
from quart.testing import QuartClient


async def _json_operations(client: QuartClient) -> list[tuple[str, str, bytes]]:
    document = await (await client.get("/openapi.json")).get_json()
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            assert "415" in operation["responses"], f"{method} {path} does not document 415"
            example = content["application/json"].get("example")
            schema = content["application/json"]["schema"]
            if "$ref" in schema:
                schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            body = example if example is not None else schema["examples"][0]
            concrete = path.replace("{key}", "s").replace("{t}", "1000").replace("{job_id}", "j")
            found.append((method.upper(), concrete, orjson.dumps(body)))
    return found


async def test_json_bodies_without_a_json_content_type_are_415_everywhere(
    client: QuartClient,
) -> None:
    operations = await _json_operations(client)
    assert len(operations) >= 9  # series (2), points (2), rules, jobs, schedules, keys, bulk
    for method, path, body in operations:
        if path == "/v1/points":
            continue  # bulk writes also take CSV and line protocol: text/plain is one of them
        for content_type in ("text/plain", None):
            headers = {"Content-Type": content_type} if content_type else {}
            response = await client.open(path, method=method, data=body, headers=headers)
            assert response.status_code == 415, (method, path, content_type)
            problem = await response.get_json()
            assert problem["detail"].startswith("send the body as application/json"), problem
