"""What schemathesis needs to know that JSON Schema cannot say (``SCHEMATHESIS_HOOKS``).

The document states every rule below in words (the operation or parameter description);
JSON Schema has no way to state them, so a fuzzer would call requests that break them
"valid" and expect them to be accepted. These hooks keep such requests out of the
*positive* cases only: negative cases (the server must refuse them) are left alone.

- a range's ``from`` is not after its ``to`` (nor a page's ``cursor`` out of them);
  ``filter_by_value`` is ``min,max`` with min <= max (both evaluated, so times relative to
  now cannot be compared in a schema);
- ``bucket``, ``align``, ``bucket_timestamp``, ``empty`` and ``fill`` go with ``agg``;
  ``bucket`` and ``max_points`` are not given together; ``fn`` does not go with
  ``reverse``; ``group_by`` and ``reduce`` go together;
- a columnar bulk body has as many values as times;
- a job's params: ``from`` not after ``to``; a ``season`` a multiple of ``bucket``, at
  least two buckets (and, for forecast, within ``max_history``); a downsample's ``dest``
  not its ``source``; and the params' own cross-field rules (the params model's
  validators, run here as the server runs them);
- rollup tiers and policies: the models' own cross-field rules (distinct buckets and policy
  names, a retention of at least one bucket, buckets under 2^53 ms);
- a schedule's ``every`` at least 10 s, its ``cron`` a date that exists (not 30 February);
- CSV and line-protocol bodies follow their grammar (a media type JSON Schema cannot
  describe): generated here from valid points (with a key column, so not with ``?key=``).

Negative cases whose fault a URL cannot carry are dropped: ``true`` as a list of label
names arrives as the label name ``true``.

And one workaround: schemathesis 4.32 turns an OpenAPI 3.1 tuple (``prefixItems``) in a
*response* schema into a draft-4 ``items`` list, then refuses that under its 2020-12
validator ("Schema Error"). For its response checks only, a tuple ``[t, v]`` is read as an
array of two numbers or nulls; request schemas keep their tuples.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters

from api.routes.rollups import PoliciesIn, RollupsIn
from tsdb.timefmt import now_ms, parse_bound, parse_duration
from workers import registry
from workers.jobs.forecast import min_history
from workers.schedules import MIN_INTERVAL_MS, check_timing

_ROLLUP_BODIES = {"/v1/series/{key}/rollups": RollupsIn, "/v1/rollups": PoliciesIn}
_AGG_ONLY = ("bucket", "align", "bucket_timestamp", "empty", "fill")


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    if meta is None:
        return True
    return bool(meta.generation.mode.is_positive)


def _bound(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return parse_bound(value if isinstance(value, int) else str(value), "t", now_ms())
    except Exception:
        return None


def _range_ok(query: dict[str, Any]) -> bool:
    if query.get("agg") is None:
        for name in _AGG_ONLY:
            value = query.get(name)
            if value is not None and value not in (False, "false"):
                return False
    if query.get("bucket") is not None and query.get("max_points") is not None:
        return False
    if query.get("fn") is not None and query.get("reverse") in (True, "true"):
        return False
    if (query.get("group_by") is None) != (query.get("reduce") is None):
        return False
    start, end = _bound(query.get("from")), _bound(query.get("to"))
    cursor = _bound(query.get("cursor"))  # a page resumes from its cursor
    if cursor is not None:
        if query.get("reverse") in (True, "true"):
            end = cursor
        else:
            start = cursor
    if start is not None and end is not None and start > end:
        return False
    window = query.get("filter_by_value")
    if isinstance(window, str) and "," in window:
        low, high = (float(x) for x in window.split(",", 1))
        if low > high:
            return False
    return True


def _untuple(node: Any) -> None:
    if isinstance(node, dict):
        if "prefixItems" in node:
            branches = node.pop("prefixItems")
            node["items"] = {"anyOf": branches}
            node["minItems"] = node["maxItems"] = len(branches)
        for value in node.values():
            _untuple(value)
    elif isinstance(node, list):
        for value in node:
            _untuple(value)


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    """Response tuples as arrays (see the module: a schemathesis 4.32 conversion bug):
    in responses, and in the components only responses use."""
    schemas = raw_schema.get("components", {}).get("schemas", {})
    requested: set[str] = set()
    for operations in raw_schema.get("paths", {}).values():
        for operation in operations.values():
            _refs(operation.get("requestBody"), requested)
            _refs(operation.get("parameters"), requested)
            _untuple(operation.get("responses"))
    while True:  # what request schemas reach through their own references
        more: set[str] = set()
        for name in requested:
            _refs(schemas.get(name), more)
        if more <= requested:
            break
        requested |= more
    for name, schema in schemas.items():
        if name not in requested:
            _untuple(schema)


def _duration(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return None if value is None else parse_duration(value, "d")


def _job_ok(body: Any) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("params"), dict):
        return True
    params = body["params"]
    try:
        registry.get(str(body.get("type"))).validate(params)
    except Exception:
        return False  # refused by the params model itself (cross-field validators)
    if not _range_ok({"from": params.get("from"), "to": params.get("to"), "agg": "avg"}):
        return False
    try:
        bucket, season = _duration(params.get("bucket")), _duration(params.get("season"))
    except Exception:
        return False
    if bucket and season and (season % bucket or season // bucket < 2):
        return False
    history = int(params.get("max_history", 10_000))
    if (
        body.get("type") == "forecast"
        and bucket
        and season
        and (min_history(season // bucket) > history)
    ):
        return False
    if body.get("type") == "downsample" and params.get("dest") == params.get("source"):
        return False
    try:
        if body.get("every") is not None and (_duration(body["every"]) or 0) < MIN_INTERVAL_MS:
            return False
    except Exception:
        return False
    if body.get("cron"):
        try:
            check_timing(body["cron"], None)
        except Exception:
            return False
    return True


def _array_items(schema: Any) -> Any:
    for branch in [schema, *schema.get("anyOf", [])]:
        if isinstance(branch, dict) and branch.get("type") == "array":
            return branch.get("items")
    return None


def _negation_lost_in_url(case: Any) -> bool:
    """A negative query value that reads as a valid one once it is text in a URL: ``true``
    (a boolean, so "not a list of label names") arrives as the label name ``true``."""
    negated = list(negated_parameters(case.meta))
    if not negated or any(location != ParameterLocation.QUERY for _, location in negated):
        return False
    definitions = {p.get("name"): p for p in case.operation.definition.raw.get("parameters", [])}
    for name, _ in negated:
        items = _array_items(definitions.get(name, {}).get("schema", {}))
        value = (case.query or {}).get(name)
        values = value if isinstance(value, list) else [value]
        if not isinstance(items, dict) or "pattern" not in items or not values:
            return False
        texts = [str(v).lower() if isinstance(v, bool) else v for v in values]
        if not all(isinstance(t, str) and re.search(items["pattern"], t) for t in texts):
            return False
    return True


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Positive cases follow the rules JSON Schema cannot state (see the module); negative
    cases whose fault a URL cannot carry are dropped."""
    if not _positive(case):
        return not _negation_lost_in_url(case)
    if case.operation.path in ("/v1/jobs", "/v1/schedules") and case.method.upper() == "POST":
        return _job_ok(case.body)
    model = _ROLLUP_BODIES.get(case.operation.path)
    if model is not None and case.method.upper() == "PUT":
        try:  # the models' cross-field rules (distinct buckets and names, retention >= bucket)
            model.model_validate(case.body)
        except Exception:
            return False
    query = case.query or {}
    if query.get("key") and isinstance(case.body, bytes) and case.body.startswith(b"key,"):
        return False  # with ?key= a CSV is t,v (map_case may not rewrite a text body)
    return _range_ok(query)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Columnar bulk bodies get as many values as times (positive cases). Only JSON bodies:
    schemathesis revalidates a body a hook changes, and a text body it cannot validate then
    counts as negative."""
    if _positive(case) and case.operation.path == "/v1/points":
        body = case.body
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("t"), list):
                n = min(len(item["t"]), len(item.get("v") or []))
                item["t"], item["v"] = item["t"][: max(n, 1)], (item.get("v") or [0.0])[: max(n, 1)]
                if len(item["t"]) != len(item["v"]):
                    item["v"] = [0.0] * len(item["t"])
    return case


_KEY = st.from_regex(r"\A[a-z][a-z0-9:._-]{0,15}\Z")
_TIME = st.integers(min_value=0, max_value=2**53)
_VALUE = st.floats(allow_nan=False, allow_infinity=False, width=32)


@st.composite
def _csv(draw: Any) -> bytes:
    rows = draw(st.lists(st.tuples(_KEY, _TIME, _VALUE), min_size=1, max_size=20))
    lines = ["key,t,v", *(f"{k},{t},{v!r}" for k, t, v in rows)]
    return ("\n".join(lines) + "\n").encode()


_MEASUREMENT = st.from_regex(r"\A[a-z][a-z0-9_]{0,10}\Z")


@st.composite
def _line_protocol(draw: Any) -> bytes:
    rows = draw(
        st.lists(st.tuples(_MEASUREMENT, _MEASUREMENT, _VALUE, _TIME), min_size=1, max_size=20)
    )
    return "".join(f"{m},host=h {f}={v!r} {t}\n" for m, f, v, t in rows).encode()


for _media in ("text/csv", "application/csv"):
    schemathesis.openapi.media_type(_media, _csv())
for _media in ("text/plain", "application/x-influx-line-protocol"):
    schemathesis.openapi.media_type(_media, _line_protocol())


@schemathesis.serializer(
    "text/csv", "application/csv", "text/plain", "application/x-influx-line-protocol"
)
def _as_bytes(context: Any, value: Any) -> bytes:
    """Text bodies as generated (bytes)."""
    return value if isinstance(value, bytes) else str(value).encode()
