"""What a route promises beyond its models: path parameter types, links, extra answers.

- :func:`path_types` gives path parameters a type (``key=SeriesKey``); a request whose path
  parameter does not match gets 422, and ``/openapi.json`` shows the type's schema.
- :func:`links` names the operations that use what an answer holds (OpenAPI links), so that
  generated clients and stateful fuzzers can chain them: ``POST /v1/series`` →
  ``GET /v1/series/{key}``.
- :func:`answers` adds statuses a route can send besides the ones every route of its kind
  sends (see :mod:`api.openapi`).
- :func:`body_types` lists the media types a route reads its body as, with their schemas,
  for routes that read the body themselves (bulk writes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from quart import Quart, current_app, request

from tsdb.errors import InvalidInput

__all__ = [
    "Link",
    "answers",
    "body_types",
    "checks_own_body",
    "install",
    "links",
    "path_types",
    "responds",
]

F = TypeVar("F", bound=Callable[..., Any])

PATH_TYPES = "_tsapi_path_types"
LINKS = "_tsapi_links"
ANSWERS = "_tsapi_answers"
BODY_TYPES = "_tsapi_body_types"
RESPONSES = "_tsapi_responses"
OWN_BODY = "_tsapi_checks_own_body"


@dataclass(frozen=True)
class Link:
    """An OpenAPI link from one answer of this route to the operation ``operation``.

    ``parameters`` maps the target's parameter names to runtime expressions, such as
    ``$response.body#/key`` or ``$request.path.key``.
    """

    name: str
    operation: str
    parameters: dict[str, str]
    status: int


def path_types(**types: Any) -> Callable[[F], F]:
    """Give the route's path parameters these types (validated, and documented)."""

    def mark(view: F) -> F:
        setattr(view, PATH_TYPES, {name: TypeAdapter(t) for name, t in types.items()})
        return view

    return mark


def links(status: int, **targets: tuple[str, dict[str, str]]) -> Callable[[F], F]:
    """Links from the ``status`` answer: ``name=(operationId, {param: expression})``."""

    def mark(view: F) -> F:
        found = list(getattr(view, LINKS, []))
        found += [Link(name, op, params, status) for name, (op, params) in targets.items()]
        setattr(view, LINKS, found)
        return view

    return mark


def answers(*statuses: int) -> Callable[[F], F]:
    """Statuses this route sends besides those of every route of its kind."""

    def mark(view: F) -> F:
        setattr(view, ANSWERS, {*getattr(view, ANSWERS, ()), *statuses})
        return view

    return mark


def body_types(content: dict[str, dict[str, Any]]) -> Callable[[F], F]:
    """The media types (and their schemas) of a body the route reads itself."""

    def mark(view: F) -> F:
        setattr(view, BODY_TYPES, content)
        return view

    return mark


def responds(status: int, description: str, content: dict[str, dict[str, Any]]) -> Callable[[F], F]:
    """An answer that is not a model's JSON (a file), with its media types."""

    def mark(view: F) -> F:
        found = dict(getattr(view, RESPONSES, {}))
        found[status] = {"description": description, "content": content}
        setattr(view, RESPONSES, found)
        return view

    return mark


def checks_own_body(view: F) -> F:
    """The route checks its JSON body itself, with errors of its own shape (a list of points:
    each bad point by index), so it is not checked against the document first."""
    setattr(view, OWN_BODY, True)
    return view


def _check_path() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    types: dict[str, TypeAdapter[Any]] | None = getattr(view, PATH_TYPES, None)
    if not types or not request.view_args:
        return
    errors = []
    for name, adapter in types.items():
        if name not in request.view_args:
            continue
        try:
            adapter.validate_python(request.view_args[name])
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                errors.append({"field": name, "message": error["msg"]})
    if errors:
        raise InvalidInput(
            f"invalid path parameter {', '.join(sorted({e['field'] for e in errors}))}",
            errors=errors,
        )


def install(app: Quart) -> None:
    """Check path parameters of every typed route before its handler (after the access
    checks, so that a client without a key learns nothing)."""
    app.before_request(_check_path)
