"""One valid request per operation of ``/openapi.json``, built from the document itself.

Path parameters come from the data a test made (by name); query parameters and bodies from
the examples the document gives (a required parameter or a body without one is an error:
the document must show how to call every operation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson


@dataclass(frozen=True)
class Call:
    """One request, ready to send."""

    operation: str
    method: str
    path: str
    params: list[tuple[str, str]]
    body: bytes | None
    content_type: str | None


@dataclass(frozen=True)
class Answer:
    """What one call got, and how long it took."""

    call: Call
    status: int
    content_type: str
    seconds: float
    body: bytes


def _example(schema: dict[str, Any], parameter: dict[str, Any]) -> Any:
    for holder in (parameter, schema):
        if "example" in holder:
            return holder["example"]
        if holder.get("examples"):
            return holder["examples"][0]
    for branch in schema.get("anyOf", []):
        if branch.get("examples"):
            return branch["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    raise AssertionError(f"{parameter.get('name')}: no example in the document")


def _query(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


def calls(document: dict[str, Any], path_values: dict[str, str]) -> list[Call]:
    """A call per operation: required parameters and bodies from the document's examples."""
    schemas = document["components"]["schemas"]
    found: list[Call] = []
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            path = template
            params: list[tuple[str, str]] = []
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter["in"] == "path":
                    path = path.replace("{" + name + "}", path_values[name])
                elif parameter.get("required"):
                    value = _example(parameter.get("schema", {}), parameter)
                    params += [(name, v) for v in _query(value)]
            body = content_type = None
            if "requestBody" in operation:
                content_type, media = next(iter(operation["requestBody"]["content"].items()))
                schema = media.get("schema", {})
                if "$ref" in schema:
                    schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
                value = _example(schema, media)
                body = value.encode() if isinstance(value, str) else orjson.dumps(value)
            found.append(
                Call(operation["operationId"], method.upper(), path, params, body, content_type)
            )
    return found


def send(http: httpx.Client, call: Call, timeout: float = 15.0) -> Answer:
    """Send one call; its answer and how long it took."""
    headers = {"Content-Type": call.content_type} if call.content_type else {}
    started = time.monotonic()
    response = http.request(
        call.method,
        call.path,
        params=call.params,
        content=call.body,
        headers=headers,
        timeout=timeout,
    )
    return Answer(
        call,
        response.status_code,
        response.headers.get("content-type", ""),
        time.monotonic() - started,
        response.content,
    )
