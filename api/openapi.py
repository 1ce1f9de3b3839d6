"""The OpenAPI document: the contract, built from the models that validate.

quart-schema documents each route from its decorators; :class:`ContractProvider` completes
that into what the server really does:

- every parameter's type, pattern and bounds from its model, ``required`` where the model
  requires it (query parameters too), path parameters typed by :func:`api.contract.path_types`;
- request bodies marked required, with every media type a route reads (bulk writes);
- every status a route can send: its own (:func:`api.contract.answers`, its response
  models) and those of every route of its kind: 401/403/429 for routes that need a key,
  503/504 while Redis is unavailable or slow, 404/422 for path parameters, 422 for query
  parameters, 400/408/413/415/422 for bodies. Problems are ``application/problem+json``;
- OpenAPI links (:func:`api.contract.links`) from creating operations to those that use
  what they create;
- the bearer security scheme, with each operation's scope; while the server has no key and
  the caller may use it openly, ``{}`` (no credentials) is allowed too, as it is;
- reads with a ``format`` parameter answer JSON or CSV; tuples use ``prefixItems``.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from pydantic import TypeAdapter
from quart_schema import OpenAPIProvider
from werkzeug.routing import Rule

from api.contract import ANSWERS, BODY_TYPES, LINKS, PATH_TYPES, RESPONSES, Link
from api.schemas import Problem
from api.security.access import required_scope
from core.fields import KEY_PATTERN, KEY_RESERVED_PATTERN

__all__ = ["SCHEME", "ContractProvider"]

SCHEME: Final = "apiKey"
REF_TEMPLATE: Final = "#/components/schemas/{model}"
PROBLEM_JSON: Final = "application/problem+json"
_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}
_WRITES: Final = frozenset({"post", "put", "patch"})
_STATUS_TEXT: Final = {
    400: "The body is not valid JSON (or not valid gzip)",
    401: "No valid API key (missing, unknown, revoked or wrong)",
    403: "The key lacks the scope, or the series is outside its limits",
    404: "Not found: what the path names does not exist",
    408: "The body did not arrive in time",
    409: "Conflict with the state of the data (exists already, duplicate blocked, ...)",
    413: "The body is larger than TSAPI_MAX_BODY_BYTES",
    415: "The body has a content type (or encoding) this operation does not take",
    422: "Invalid input: a parameter or the body does not match this document",
    429: "Over the rate limit; retry after Retry-After seconds",
    503: "Redis is unavailable; retry after Retry-After seconds",
    504: "Redis, or the handler, did not answer in time; the request may have been applied",
}
_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}


class ContractProvider(OpenAPIProvider):
    """quart-schema's provider, completed into the exact contract (see the module)."""

    _cached: dict[str, Any] | None = None

    def contract(self, *, open_access: bool) -> dict[str, Any]:
        """The document; ``open_access``: requests without a key are served now."""
        if self._cached is None:
            self._cached = self.schema()
        document = copy.deepcopy(self._cached)
        if open_access:
            for operations in document["paths"].values():
                for operation in operations.values():
                    if operation.get("security"):
                        operation["security"] = [*operation["security"], {}]
        return document

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        components = document["components"]
        components.setdefault("securitySchemes", {})[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key (`tsapi keys create`, or `POST /v1/keys`), as "
                "`Authorization: Bearer tsapi_...`. Not needed while no key is defined and the "
                "client is on loopback (the operations then also list `{}`)."
            ),
        }
        components["schemas"]["Problem"] = TypeAdapter(Problem).json_schema(
            ref_template=REF_TEMPLATE
        )
        _fix_tuples(document)
        _fix_dicts(document)
        return document

    def operation_id(self, method: str, path: str, func: Any) -> str | None:
        """The view's name: ``create_series``, ``read_points``..."""
        return str(func.__name__)

    def build_querystring_parameters(
        self, model: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        parameters, definitions = super().build_querystring_parameters(model)
        required = set(TypeAdapter(model).json_schema(by_alias=True).get("required", []))
        for parameter in parameters:
            parameter["schema"] = _as_text(parameter["schema"])
            if parameter["name"] in required:
                parameter["required"] = True
            schema = parameter["schema"]
            if _is_array(schema):
                parameter["style"], parameter["explode"] = "form", True
        return parameters, definitions

    def build_request_body(self, model: Any, source: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        body, definitions = super().build_request_body(model, source)
        complete = getattr(model, "openapi", None)
        if complete is not None:
            for media in body["content"].values():
                complete(media["schema"], definitions)
        return body, definitions

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        view = self._app.view_functions[rule.endpoint]
        for operations in paths.values():
            for method, operation in list(operations.items()):
                operations[method] = self._complete(rule, view, method, operation, components)
        return paths, components

    def _complete(
        self,
        rule: Rule,
        view: Any,
        method: str,
        operation: dict[str, Any],
        components: dict[str, Any],
    ) -> dict[str, Any]:
        operation = dict(operation)
        operation["parameters"] = [dict(p) for p in operation.get("parameters", [])]
        types = getattr(view, PATH_TYPES, {})
        for parameter in operation["parameters"]:
            adapter = types.get(parameter["name"]) if parameter["in"] == "path" else None
            if adapter is not None:
                schema = adapter.json_schema(ref_template=REF_TEMPLATE)
                if "description" in schema:
                    parameter.setdefault("description", schema["description"])
                if schema.get("examples"):  # a parameter's "examples" is a map: one "example"
                    parameter.setdefault("example", schema["examples"][0])
                parameter["schema"] = _as_text(schema)
        if not operation["parameters"]:
            del operation["parameters"]
        body_content = getattr(view, BODY_TYPES, None)
        if body_content is not None:
            content = copy.deepcopy(body_content)
            for media in content.values():
                components.update(media.get("schema", {}).pop("$defs", {}))
            operation["requestBody"] = {"required": True, "content": content}
        elif "requestBody" in operation:
            body = _named(operation["requestBody"], components)
            operation["requestBody"] = {**body, "required": True}
        responses: dict[Any, Any] = {}
        for status, answer in operation.get("responses", {}).items():
            responses[int(status)] = _named(_as_sent(int(status), answer), components)
        for status, answer in getattr(view, RESPONSES, {}).items():
            responses[status] = copy.deepcopy(answer)
        _add_csv(operation, responses)
        scope = required_scope(rule.endpoint, method.upper())
        for status in sorted(self._statuses(rule, view, method, operation, scope)):
            responses.setdefault(status, _problem_answer(status))
        for status in (429, 503):
            if status in responses and "content" in responses[status]:
                responses[status] = {**responses[status], "headers": _RETRY_AFTER}
        for link in getattr(view, LINKS, []):
            _add_link(responses, link)
        operation["responses"] = {str(s): responses[s] for s in sorted(responses)}
        operation["security"] = [] if scope is None else [{SCHEME: [str(scope)]}]
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint:
            operation["tags"] = [blueprint]
        return operation

    def _statuses(
        self, rule: Rule, view: Any, method: str, operation: dict[str, Any], scope: Any
    ) -> set[int]:
        statuses: set[int] = set(getattr(view, ANSWERS, ()))
        if scope is None:
            return statuses
        statuses |= {401, 403, 429, 503, 504}
        parameters = operation.get("parameters") or []
        if any(p.get("in") == "path" for p in parameters):
            statuses |= {404, 422}
        if any(p.get("in") == "query" for p in parameters):
            statuses.add(422)
        if "requestBody" in operation:
            statuses |= {400, 408, 413, 415, 422}
        return statuses


def _named(answer: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """An answer whose JSON body is a model: the model in the components, referenced (so a
    model answered with two statuses is one schema, as generated clients want it)."""
    content = answer.get("content", {}).get("application/json")
    schema = content.get("schema") if content else None
    if not isinstance(schema, dict):
        return answer
    title = schema.get("title")
    if not isinstance(title, str) or schema.get("type") != "object" or not title.isidentifier():
        return answer
    components.setdefault(title, schema)
    if components[title] != schema:
        return answer
    return {
        **answer,
        "content": {
            **answer["content"],
            "application/json": {
                **content,
                "schema": {"$ref": f"{REF_TEMPLATE.format(model=title)}"},
            },
        },
    }


def _as_text(schema: Any) -> Any:
    """A parameter's schema as it travels, in a URL: a time or duration that a body may give
    as an integer or a text is text there (its digits pattern), so ``5.0`` is not one."""
    if isinstance(schema, list):
        return [_as_text(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _as_text(v) for k, v in schema.items()}
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        texts = [b for b in branches if b.get("type") == "string" and "pattern" in b]
        if texts and any(b.get("type") == "integer" for b in branches):
            schema["anyOf"] = [b for b in branches if b.get("type") != "integer"]
    return schema


def _is_array(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "array":
        return True
    return any(s.get("type") == "array" for s in schema.get("anyOf", []))


def _problem_answer(status: int) -> dict[str, Any]:
    return {
        "description": _STATUS_TEXT.get(status, "A problem"),
        "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
    }


def _add_link(responses: dict[Any, Any], link: Link) -> None:
    answer = responses.get(link.status)
    if answer is None:
        return
    answer = responses[link.status] = dict(answer)
    answer.setdefault("links", {})[link.name] = {
        "operationId": link.operation,
        "parameters": dict(link.parameters),
    }


def _add_csv(operation: dict[str, Any], responses: dict[Any, Any]) -> None:
    """Reads with a ``format`` parameter also answer ``text/csv``."""
    names = {p.get("name") for p in operation.get("parameters") or [] if p.get("in") == "query"}
    ok = responses.get(200)
    if "format" in names and ok is not None and "content" in ok:
        ok = responses[200] = {**ok, "content": dict(ok["content"])}
        ok["content"]["text/csv"] = {
            "schema": {
                "type": "string",
                "description": "t,v (key,t,v for several series) lines; an answer cut by a "
                "fault ends with a line '#error ' and the problem document as JSON",
            }
        }


def _as_sent(status: int, answer: dict[str, Any]) -> dict[str, Any]:
    """Problems are sent as application/problem+json; 204 has no body."""
    if status == 204:
        return {"description": answer.get("description") or "No content"}
    content = answer.get("content") or {}
    schema = content.get("application/json", {}).get("schema", {})
    if schema.get("$ref") == _PROBLEM_REF["$ref"] or schema.get("title") == "Problem":
        return {
            "description": answer.get("description") or "A problem",
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
    if not answer.get("description"):
        answer = {**answer, "description": "OK"}
    return answer


def _fix_dicts(node: Any) -> None:
    """Dicts with constrained keys as JSON Schema means them. pydantic writes
    ``patternProperties`` (which leaves keys that do not match unconstrained); the API
    refuses such keys, so: ``propertyNames`` with the key's pattern (and, for series keys,
    the reserved prefixes), and ``additionalProperties`` with the value's schema."""
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1:
            ((pattern, value),) = patterns.items()
            names = {k: v for k, v in node.get("propertyNames", {}).items() if k == "examples"}
            names["pattern"] = pattern
            if pattern == KEY_PATTERN:
                names["not"] = {"pattern": KEY_RESERVED_PATTERN}
            del node["patternProperties"]
            node["propertyNames"] = names
            node["additionalProperties"] = value
        for value in node.values():
            _fix_dicts(value)
    elif isinstance(node, list):
        for value in node:
            _fix_dicts(value)


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
