"""The OpenAPI document says what access takes and what can go wrong.

On top of what the routes' decorators document, every operation that needs a key gets the
bearer scheme and its refusals (401/403/429/504), plus the problems the README lists for
every route of its kind: 404 when the path names something, 422 for bad parameters or
bodies, 400/413/415/409 for writes, 503 while Redis is unreachable. Problem bodies are
documented as ``application/problem+json`` (what is sent), ``204`` answers as empty,
reads with a ``format`` parameter as JSON or CSV, and tuples with ``prefixItems``."""

from __future__ import annotations

from typing import Any, Final

from quart_schema import OpenAPIProvider
from werkzeug.routing import Rule

from api.security.access import required_scope

__all__ = ["SCHEME", "SecuredOpenAPIProvider"]

SCHEME: Final = "apiKey"
_PROBLEM: Final = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
_REFUSALS: Final = {
    401: "No valid API key (missing, unknown, revoked or wrong)",
    403: "The key lacks the scope, or the series is outside its limits",
    429: "Over the rate limit; see Retry-After",
    503: "Redis is unreachable; see Retry-After",
    504: "The handler did not answer within the request timeout",
}
_WRITES: Final = frozenset({"post", "put", "patch"})
_PROBLEM_REF: Final = "#/components/schemas/Problem"


def _answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM}},
    }


class SecuredOpenAPIProvider(OpenAPIProvider):
    """quart-schema's provider, plus the security scheme and the refusal answers."""

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        document["components"].setdefault("securitySchemes", {})[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key from `tsapi keys create`, as `Authorization: Bearer tsapi_...`. "
                "Not needed while no key is defined and the client is on loopback."
            ),
        }
        _fix_tuples(document)
        return document

    def build_paths(self, rule: Rule) -> tuple[dict, dict]:
        paths, components = super().build_paths(rule)
        for operations in paths.values():
            for method, operation in list(operations.items()):
                scope = required_scope(rule.endpoint, method.upper())
                responses = {
                    status: _as_sent(status, answer)
                    for status, answer in operation.get("responses", {}).items()
                }
                _add_csv(operation, responses)
                if scope is None:
                    security: list[dict[str, list[str]]] = []
                else:
                    security = [{SCHEME: [str(scope)]}]
                    for status, description in _problems(method, operation).items():
                        responses.setdefault(status, _answer(description))
                operations[method] = {**operation, "responses": responses, "security": security}
        return paths, components


def _problems(method: str, operation: dict[str, Any]) -> dict[int, str]:
    """The problems an operation that needs a key can answer with."""
    parameters = operation.get("parameters") or []
    found = dict(_REFUSALS)
    if any(p.get("in") == "path" for p in parameters):
        found[404] = "Not found (the series, rule, job or file the path names)"
    if parameters or "requestBody" in operation or method in _WRITES:
        found[422] = "Invalid input: a parameter or the body is not valid"
    if method in _WRITES:
        found[400] = "The body is not valid JSON"
        found[413] = "The body is larger than TSAPI_MAX_BODY_BYTES"
        found[415] = "The body has a content type this operation does not take"
    if method in _WRITES or method == "delete":
        found[409] = "Conflict (exists already, duplicate blocked, job not finished...)"
    return found


def _add_csv(operation: dict[str, Any], responses: dict[Any, Any]) -> None:
    """Reads with a ``format`` parameter also answer ``text/csv``."""
    names = {p.get("name") for p in operation.get("parameters") or [] if p.get("in") == "query"}
    ok = responses.get(200)
    if "format" in names and ok is not None and "content" in ok:
        ok = responses[200] = {**ok, "content": dict(ok["content"])}
        ok["content"]["text/csv"] = {"schema": {"type": "string"}}


def _as_sent(status: int, answer: dict[str, Any]) -> dict[str, Any]:
    """Problems are sent as application/problem+json; 204 has no body."""
    if status == 204:
        return {"description": answer.get("description") or "No content"}
    content = answer.get("content") or {}
    schema = content.get("application/json", {}).get("schema", {})
    if schema.get("$ref") == _PROBLEM_REF or schema.get("title") == "Problem":
        return {**answer, "content": {"application/problem+json": {"schema": schema}}}
    return answer


def _fix_tuples(node: Any) -> None:
    """Tuples as OpenAPI 3.1 (JSON Schema 2020-12) spells them: ``prefixItems``, not an
    ``items`` list (which quart-schema leaves from older drafts, and 3.1 refuses)."""
    if isinstance(node, dict):
        if isinstance(node.get("items"), list):
            node["prefixItems"] = node.pop("items")
        for value in node.values():
            _fix_tuples(value)
    elif isinstance(node, list):
        for value in node:
            _fix_tuples(value)
