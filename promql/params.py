"""The query API's parameters, parsed as Prometheus parses them, with its error messages.

Times are RFC 3339 or (float) Unix seconds; durations (``step``, ``timeout``) are
Prometheus durations (``5m``, ``1h30m``) or (float) seconds. Every error is
:class:`~promql.errors.BadData` with the message Prometheus' API gives.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

from promql.errors import BadData

__all__ = [
    "MAX_POINTS",
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "check_range",
    "go_parse_float",
    "parse_duration",
    "parse_prom_duration",
    "parse_time",
]

MAX_POINTS = 11_000
"""Prometheus refuses a range query with more than this many steps (plus one)."""

MIN_TIME_MS = -9223372036854776  # Prometheus' minTime, in ms
MAX_TIME_MS = 9223372036854775  # Prometheus' maxTime, in ms
_MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
_MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z"

_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan"
    r"|0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?\d+)",
    re.IGNORECASE,
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS_MS = (
    365 * 86_400_000,
    7 * 86_400_000,
    86_400_000,
    3_600_000,
    60_000,
    1000,
    1,
)
_INT64_MAX = 2**63 - 1


def go_parse_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat(text, 64)``: the value, or None where Go errors.

    Unlike Python's ``float`` it refuses surrounding spaces and digit underscores, and it
    takes hexadecimal floats (``0x1p-2``). Out-of-range decimals give ±Inf, as in Go
    (which reports a range error there; callers treat that as a parse failure).
    """
    if not _GO_FLOAT.fullmatch(text):
        return None
    body = text.lstrip("+-")
    if body[:2].lower() == "0x":
        value = float.fromhex(text.replace("_", ""))
    else:
        if "_" in text:
            return None
        value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        return None  # Go: "value out of range"
    return value


def parse_prom_duration(text: str) -> int:
    """Prometheus' duration grammar (``1h30m``, ``5m``, ``0``) in milliseconds.

    Raises ValueError with Prometheus' message when it does not parse.
    """
    if text == "0":
        return 0
    if text == "":
        raise ValueError("empty duration string")
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f'not a valid duration string: "{text}"')
    total = 0
    for group, unit in zip(match.groups(), _DURATION_UNITS_MS, strict=True):
        if group:
            total += int(group) * unit
    if total * 1_000_000 > _INT64_MAX:
        raise ValueError("duration out of range")
    return total


def _invalid(parameter: str, message: str) -> BadData:
    return BadData(f'invalid parameter "{parameter}": {message}')


def parse_time(text: str, parameter: str = "time") -> int:
    """A time parameter (Unix seconds or RFC 3339) in milliseconds since the epoch."""
    value = go_parse_float(text)
    if value is not None and not math.isnan(value) and not math.isinf(value):
        whole = math.trunc(value)
        frac = round((value - whole) * 1000) / 1000
        return int(whole) * 1000 + int(frac * 1000)
    match = _RFC3339.fullmatch(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            tz = (
                UTC
                if zone == "Z"
                else timezone(
                    (1 if zone[0] == "+" else -1)
                    * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                )
            )
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz
            )
        except ValueError:
            pass
        else:
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            delta = moment - epoch
            ms = (delta.days * 86_400 + delta.seconds) * 1000
            return ms + int((fraction or "0").ljust(9, "0")[:3])
    if text == _MIN_TIME_TEXT:
        return MIN_TIME_MS
    if text == _MAX_TIME_TEXT:
        return MAX_TIME_MS
    raise _invalid(parameter, f'cannot parse "{text}" to a valid timestamp')


def parse_duration(text: str, parameter: str = "step") -> int:
    """A duration parameter (float seconds or ``5m``/``1h30m``) in milliseconds.

    Like Prometheus, the duration is kept in nanoseconds then truncated to milliseconds.
    """
    value = go_parse_float(text)
    if value is not None:
        ns = value * 1e9
        if ns > _INT64_MAX or ns < -_INT64_MAX - 1:
            raise _invalid(
                parameter, f'cannot parse "{text}" to a valid duration. It overflows int64'
            )
        if math.isnan(ns):
            return -(2**63) // 1_000_000  # Go's conversion of NaN: a negative duration
        return int(ns) // 1_000_000 if ns >= 0 else -(int(-ns) // 1_000_000)
    try:
        return parse_prom_duration(text)
    except ValueError:
        raise _invalid(parameter, f'cannot parse "{text}" to a valid duration') from None


def check_range(start_ms: int, end_ms: int, step_ms: int) -> None:
    """Prometheus' checks of ``query_range``'s start, end and step, with its messages."""
    if end_ms < start_ms:
        raise BadData("end timestamp must not be before start time")
    if step_ms <= 0:
        raise BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    if (end_ms - start_ms) // step_ms > MAX_POINTS:
        raise BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
