"""Field types shared by request models (``api``) and job parameters (``workers``).

Each type carries its validation and its JSON Schema in one place, so that what
``/openapi.json`` says a field accepts is exactly what the API accepts:

- :data:`SeriesKey`, :data:`LabelName`, :data:`LabelValue`, :data:`Labels`: the key and
  label grammar of :mod:`tsdb.keys`;
- :data:`LabelFilter`, :data:`FilterList`: one label filter, and a list of them of which at
  least one is a positive match (:mod:`tsdb.filters`);
- :data:`TimeIn`: a timestamp (epoch ms; RFC 3339 from 1970 on; ``now``, ``now+5m``,
  ``-15m``, at most 999 units of two kinds back, so that it never predates 1970);
- :data:`BoundIn`: a range bound: :data:`TimeIn`, ``-`` / ``+`` (earliest / latest), any
  RFC 3339 time and any relative time (a bound before 1970 means "from the start");
- :data:`DurationIn` (positive) and :data:`RetentionIn` (``0`` = keep forever);
- :data:`QueryBool`: ``true`` or ``false`` in a query string, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)

from tsdb.errors import InvalidInput
from tsdb.filters import parse_filters
from tsdb.keys import KEY_MAX_LENGTH, validate_key

MAX_TIME = 10**18 - 1
"""The largest epoch-ms time or duration the API takes (18 digits: year 31,690,708)."""

__all__ = [
    "BOUND_PATTERN",
    "DURATION_PATTERN",
    "KEY_PATTERN",
    "KEY_RESERVED_PATTERN",
    "LABEL_NAME_PATTERN",
    "LABEL_PARAM_PATTERN",
    "LABEL_VALUE_PATTERN",
    "MAX_TIME",
    "TIME_PATTERN",
    "AlignIn",
    "BoundIn",
    "DurationIn",
    "FilterList",
    "LabelFilter",
    "LabelName",
    "LabelValue",
    "Labels",
    "QueryBool",
    "RetentionIn",
    "RuleAlignIn",
    "SeriesKey",
    "StrList",
    "StrictModel",
    "TimeIn",
    "as_list",
    "check_time_in",
    "checked_by",
    "examples",
]


class StrictModel(BaseModel):
    """A model that refuses unknown fields and accepts fields by name or alias."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def examples(*documents: Any) -> ConfigDict:
    """A model config that gives the model's JSON Schema these examples."""
    return ConfigDict(json_schema_extra={"examples": list(documents)})


def as_list(value: Any) -> Any:
    """A query parameter given once arrives as a string: make it a one-item list."""
    return [value] if isinstance(value, str) else value


def _integral(value: Any) -> Any:
    """A whole float (``5.0``) as an int: JSON Schema counts it as an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


StrList = Annotated[list[str], BeforeValidator(as_list)]

# -- keys and labels ----------------------------------------------------------------------------

KEY_PATTERN = rf"^[A-Za-z0-9:._{{}}-]{{1,{KEY_MAX_LENGTH}}}$"
KEY_RESERVED_PATTERN = r"^(?:tsapi:|rq:|\.\.?$)"
LABEL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$"
_VALUE_CHAR = "[^\\x00-\\x1f\\x7f=!(),\"']"
LABEL_VALUE_PATTERN = f"^{_VALUE_CHAR}{{1,1024}}$"
_NAME = r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}"
_FILTER_PATTERN = f"^{_NAME}!?=(?:{_VALUE_CHAR}*|\\({_VALUE_CHAR}+(?:,{_VALUE_CHAR}+)*\\))$"
_POSITIVE_PATTERN = f"^{_NAME}=(?:{_VALUE_CHAR}+|\\({_VALUE_CHAR}+(?:,{_VALUE_CHAR}+)*\\))$"


In = TypeVar("In")
Out = TypeVar("Out")


def checked_by(check: Callable[[In], Out]) -> Callable[[In], Out]:
    """``check`` as a pydantic validator: its :class:`InvalidInput` becomes the
    ``ValueError`` pydantic reports (a 422 naming the field)."""

    def validate(value: In) -> Out:
        try:
            return check(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    return validate


_series_key = checked_by(validate_key)


SeriesKey = Annotated[
    str,
    Field(
        pattern=KEY_PATTERN,
        json_schema_extra={"not": {"pattern": KEY_RESERVED_PATTERN}},
        description="A series key: letters, digits and ':._-{}', at most 256 characters; not "
        "'.' or '..', and not starting with 'tsapi:' or 'rq:'",
        examples=["temp:austin"],
    ),
    AfterValidator(_series_key),
]
LABEL_PARAM_PATTERN = f"^{_NAME}={_VALUE_CHAR}{{1,1024}}$"
LabelName = Annotated[str, Field(pattern=LABEL_NAME_PATTERN, examples=["city"])]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, examples=["austin"])]
Labels = dict[LabelName, LabelValue]


def _filter_list(values: list[str]) -> list[str]:
    return list(parse_filters(values))


_filters = checked_by(_filter_list)


LabelFilter = Annotated[
    str,
    Field(
        pattern=_FILTER_PATTERN,
        description="label=value, label!=value, label= (absent), label!= (present), "
        "label=(a,b) or label!=(a,b)",
        examples=["city=austin"],
    ),
]
FilterList = Annotated[
    list[LabelFilter],
    BeforeValidator(as_list),
    Field(
        min_length=1,
        json_schema_extra={"contains": {"type": "string", "pattern": _POSITIVE_PATTERN}},
        description="Label filters, all of which must hold; at least one is a positive match "
        "(label=value or label=(a,b))",
        examples=[["city=austin"]],
    ),
    AfterValidator(_filters),
]

# -- times and durations --------------------------------------------------------------------------

_UNIT = "(?:ms|s|m|h|d|w)"
_EPOCH = "0|[1-9][0-9]{0,17}"
_SPAN = f"(?:[1-9][0-9]{{0,5}}{_UNIT}){{1,4}}"  # 1h30m; at most 4 x 999,999 weeks
_RECENT = f"(?:[1-9][0-9]{{0,2}}{_UNIT}){{1,2}}"  # at most 2 x 999 weeks: never before 1970
TIME_PATTERN = f"^(?:{_EPOCH}|now|(?:now)?\\+{_SPAN}|(?:now)?-{_RECENT})$"
BOUND_PATTERN = f"^(?:{_EPOCH}|now|-|\\+|(?:now)?[+-]{_SPAN})$"
DURATION_PATTERN = f"^(?:[1-9][0-9]{{0,17}}|{_SPAN})$"
_RETENTION_PATTERN = f"^(?:{_EPOCH}|{_SPAN})$"
_ISO_FROM_1970 = "^(?:19[7-9][0-9]|[2-9][0-9]{3})-"
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_INT_TIME = {"type": "integer", "minimum": 0, "maximum": MAX_TIME}


def _is_rfc3339(text: str) -> bool:
    if not _RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper())
    except ValueError:
        return False
    return True


def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_TIME = _compiled(TIME_PATTERN)
_BOUND = _compiled(BOUND_PATTERN)
_DURATION = _compiled(DURATION_PATTERN)
_RETENTION = _compiled(_RETENTION_PATTERN)
_FROM_1970 = _compiled(_ISO_FROM_1970)


def check_time_in(value: Any, field: str = "t") -> int | str:
    """``value`` if it is a :data:`TimeIn`, else :class:`InvalidInput` (for hand-parsed bodies)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integer: 5.0 is one
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{field} must be a timestamp (epoch ms, RFC 3339 or relative)")
    if isinstance(value, int):
        if not 0 <= value <= MAX_TIME:
            raise InvalidInput(f"{field} {value} is outside the supported range (epoch ms >= 0)")
        return value
    if _TIME.fullmatch(value) or (_is_rfc3339(value) and _FROM_1970.match(value)):
        return value
    raise InvalidInput(
        f"{field} {value!r} is not a timestamp: use epoch milliseconds, RFC 3339 "
        "(2024-01-31T12:00:00Z, from 1970 on) or a relative time (now, -15m, now+1h)"
    )


_time = checked_by(check_time_in)


def _bound(value: int | str) -> int | str:
    if isinstance(value, int):
        if not 0 <= value <= MAX_TIME:
            raise ValueError(f"a bound in epoch ms is between 0 and {MAX_TIME}")
        return value
    if _BOUND.fullmatch(value) or _is_rfc3339(value):
        return value
    raise ValueError(
        f"{value!r} is not a range bound: use -, +, epoch milliseconds, RFC 3339 "
        "(2024-01-31T12:00:00Z) or a relative time (now, -15m, -7d)"
    )


def _text_rule(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: int | str) -> int | str:
        if isinstance(value, int):
            return value
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


_DATE_TIME = {"type": "string", "format": "date-time"}

TimeIn = Annotated[
    StrictInt | StrictStr,
    BeforeValidator(_integral),
    AfterValidator(_time),
    WithJsonSchema(
        {
            "anyOf": [
                _INT_TIME,
                {"type": "string", "pattern": TIME_PATTERN},
                {**_DATE_TIME, "pattern": _ISO_FROM_1970},
            ],
            "description": "Epoch ms, RFC 3339 from 1970 on (2024-01-31T12:00:00Z), now, or "
            "relative to now (now+1h; -15m, -1h30m: up to two terms of at most 999 units back)",
            "examples": [1706702400000, "2024-01-31T12:00:00Z", "-15m"],
        }
    ),
]
BoundIn = Annotated[
    StrictInt | StrictStr,
    BeforeValidator(_integral),
    AfterValidator(_bound),
    WithJsonSchema(
        {
            "anyOf": [_INT_TIME, {"type": "string", "pattern": BOUND_PATTERN}, _DATE_TIME],
            "description": "A range bound: '-' (earliest) or '+' (latest), epoch ms, RFC 3339, "
            "now, or relative to now (-7d, -1h30m, now+1h); before 1970 means from the start",
            "examples": ["-1h", "-", 1706702400000],
        }
    ),
]


def _offset(value: int | str) -> int | str:
    """A timestamp, or a duration taken as an offset from the epoch."""
    if isinstance(value, str) and _DURATION.fullmatch(value):
        return value
    return _time(value)


def _alignment(value: int | str) -> int | str:
    return value if value in ("start", "end") else _offset(value)


_OFFSET_SCHEMAS = [
    _INT_TIME,
    {"type": "string", "pattern": DURATION_PATTERN},
    {"type": "string", "pattern": TIME_PATTERN},
    {**_DATE_TIME, "pattern": _ISO_FROM_1970},
]
RuleAlignIn = Annotated[
    StrictInt | StrictStr,
    BeforeValidator(_integral),
    AfterValidator(_offset),
    WithJsonSchema(
        {
            "anyOf": _OFFSET_SCHEMAS,
            "description": "Where buckets start: a timestamp, or a duration from the epoch "
            "(10m: 00:10, 01:10... with 1h buckets)",
            "examples": [0, "10m"],
        }
    ),
]
AlignIn = Annotated[
    StrictInt | StrictStr,
    BeforeValidator(_integral),
    AfterValidator(_alignment),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "enum": ["start", "end"]}, *_OFFSET_SCHEMAS],
            "description": "Where buckets start: start or end of the range, a timestamp, or a "
            "duration from the epoch (10m)",
            "examples": ["start", "10m"],
        }
    ),
]


def _positive(value: int | str) -> int | str:
    if isinstance(value, int) and not 1 <= value <= MAX_TIME:
        raise ValueError(f"a duration in ms is between 1 and {MAX_TIME}")
    return value


def _not_negative(value: int | str) -> int | str:
    if isinstance(value, int) and not 0 <= value <= MAX_TIME:
        raise ValueError(f"a retention in ms is between 0 and {MAX_TIME}")
    return value


_DURATION_INT = {"type": "integer", "minimum": 1, "maximum": MAX_TIME}
DurationIn = Annotated[
    StrictInt | StrictStr,
    BeforeValidator(_integral),
    AfterValidator(_text_rule(_DURATION, "a duration (500, 30s, 5m, 1h30m, 1d, 1w)")),
    AfterValidator(_positive),
    WithJsonSchema(
        {
            "anyOf": [_DURATION_INT, {"type": "string", "pattern": DURATION_PATTERN}],
            "description": "Milliseconds, or up to four terms of a number and a unit: 250ms, "
            "30s, 5m, 1h30m, 1d, 1w",
            "examples": ["1h", 60000],
        }
    ),
]
RetentionIn = Annotated[
    StrictInt | StrictStr,
    BeforeValidator(_integral),
    AfterValidator(_text_rule(_RETENTION, "a retention (0 = forever, 500, 30d, 1w)")),
    AfterValidator(_not_negative),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_TIME},
                {"type": "string", "pattern": _RETENTION_PATTERN},
            ],
            "description": "Milliseconds (0 = forever) or a duration: 30s, 12h, 30d, 1w",
            "examples": ["30d", 0],
        }
    ),
]


def _query_bool(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("use true or false")
        return value == "true"
    return value


QueryBool = Annotated[bool, BeforeValidator(_query_bool)]
