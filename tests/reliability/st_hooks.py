"""What schemathesis needs to know that JSON Schema cannot say (``SCHEMATHESIS_HOOKS``).

The document states every rule below in words (the operation or parameter description);
JSON Schema has no way to state them, so a fuzzer would call requests that break them
"valid" and expect them to be accepted. These hooks keep such requests out of the
*positive* cases only: negative cases (the server must refuse them) are left alone.

- a range's ``from`` is not after its ``to``; ``filter_by_value`` is ``min,max`` with
  min <= max (both evaluated, so times relative to now cannot be compared in a schema);
- ``bucket``, ``align``, ``bucket_timestamp``, ``empty`` and ``fill`` go with ``agg``;
  ``bucket`` and ``max_points`` are not given together; ``fn`` does not go with
  ``reverse``; ``group_by`` and ``reduce`` go together;
- a columnar bulk body has as many values as times;
- CSV and line-protocol bodies follow their grammar (a media type JSON Schema cannot
  describe): generated here from valid points.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st

from tsdb.timefmt import now_ms, parse_bound

_AGG_ONLY = ("bucket", "align", "bucket_timestamp", "empty", "fill")


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    if meta is None:
        return True
    return bool(meta.generation.mode.is_positive)


def _bound(value: Any) -> int | None:
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
    if start is not None and end is not None and start > end:
        return False
    window = query.get("filter_by_value")
    if isinstance(window, str) and "," in window:
        low, high = (float(x) for x in window.split(",", 1))
        if low > high:
            return False
    return True


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Positive cases follow the rules JSON Schema cannot state (see the module)."""
    if not _positive(case):
        return True
    query = case.query or {}
    return _range_ok(query)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Columnar bulk bodies get as many values as times (positive cases)."""
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
