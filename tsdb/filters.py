"""Label filters in TS.QUERYINDEX syntax, checked against a strict grammar.

Accepted forms: ``label=value``, ``label!=value``, ``label=`` (label absent),
``label!=`` (label present), ``label=(v1,v2)`` and ``label!=(v1,v2)``. As the module
requires, at least one filter must be a positive match (``label=value`` or
``label=(v1,...)``). Every filter reaches Redis as one argument, so nothing a user
writes can add arguments to a command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tsdb.errors import InvalidInput
from tsdb.keys import LABEL_PATTERN, LABEL_VALUE_PATTERN

__all__ = ["parse_filters"]

_FILTER = re.compile(rf"(?P<label>{LABEL_PATTERN.pattern})(?P<op>!?=)(?P<value>.*)", re.DOTALL)
_SIMPLE_VALUE = LABEL_VALUE_PATTERN


def parse_filters(filters: Iterable[str]) -> tuple[str, ...]:
    """Validate label filters and return them as a tuple ready for a TS command."""
    checked = tuple(_check(f.strip()) for f in filters if f is not None)
    if not checked:
        raise InvalidInput("at least one label filter is required, e.g. filter=city=austin")
    if not any(_is_positive(f) for f in checked):
        raise InvalidInput(
            "at least one filter must match a label value (label=value or label=(v1,v2)); "
            "filters like label!=value or label= can only narrow such a match"
        )
    return checked


def _check(text: str) -> str:
    match = _FILTER.fullmatch(text)
    if not match:
        raise InvalidInput(
            f"filter {text!r} is not valid: use label=value, label!=value, label=, label!=, "
            "label=(v1,v2) or label!=(v1,v2)"
        )
    value = match["value"]
    if value.startswith("(") and value.endswith(")"):
        items = value[1:-1].split(",")
        if not all(item and _SIMPLE_VALUE.fullmatch(item) for item in items):
            raise InvalidInput(f"filter {text!r} has an invalid value list")
    elif not _SIMPLE_VALUE.fullmatch(value):
        raise InvalidInput(
            f"filter {text!r} has a value with a reserved character (quotes, '=', '!', '(', "
            "')', ',' or control characters)"
        )
    return text


def _is_positive(text: str) -> bool:
    match = _FILTER.fullmatch(text)
    return match is not None and match["op"] == "=" and match["value"] != ""
