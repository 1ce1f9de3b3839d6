"""Time as users write it: epoch milliseconds, ISO-8601, relative forms, and durations.

- timestamps: ``1700000000000`` (epoch ms), ``2024-01-31T12:00:00Z`` (naive means UTC),
  ``now``, ``-15m`` / ``now-15m`` / ``+1h`` / ``now+1h`` (relative to now);
- range bounds additionally accept ``-`` and ``+`` for the earliest and latest sample;
- durations: ``500`` (ms), ``250ms``, ``30s``, ``5m``, ``1h``, ``1d``, ``1w``; sums: ``1h30m``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from tsdb.errors import InvalidInput

__all__ = [
    "MAX_TIMESTAMP",
    "format_iso",
    "now_ms",
    "parse_alignment",
    "parse_bound",
    "parse_duration",
    "parse_timestamp",
]

MAX_TIMESTAMP = 2**63 - 1
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"(?:(\d+)(ms|s|m|h|d|w))+?")
_DURATION_FULL = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RELATIVE = re.compile(r"(?:now)?([+-])(.+)")


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def parse_duration(value: str | int, field: str = "duration") -> int:
    """Parse a duration into milliseconds; it must be positive."""
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a duration like 500, 30s, 5m, 1h or 1d")
    if isinstance(value, int):
        ms = value
    else:
        text = value.strip()
        if text.isdigit():
            ms = int(text)
        elif _DURATION_FULL.fullmatch(text):
            ms = sum(int(n) * _UNIT_MS[u] for n, u in _DURATION.findall(text))
        else:
            raise InvalidInput(
                f"{field} {value!r} is not a duration: use milliseconds (500) or a number with "
                "a unit: 250ms, 30s, 5m, 1h, 1d, 1w"
            )
    if ms <= 0:
        raise InvalidInput(f"{field} must be greater than zero")
    if ms > MAX_TIMESTAMP:
        raise InvalidInput(f"{field} is too large")
    return ms


def parse_timestamp(value: str | int | float, field: str = "t", now: int | None = None) -> int:
    """Parse a timestamp (epoch ms, ISO-8601 or relative) into epoch milliseconds."""
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a timestamp, not a boolean")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise InvalidInput(f"{field} must be a whole number of milliseconds")
        ms = int(value)
    elif isinstance(value, str):
        ms = _parse_text(value.strip(), field, now)
    else:
        raise InvalidInput(f"{field} must be a timestamp (epoch ms, ISO-8601 or relative)")
    if not 0 <= ms <= MAX_TIMESTAMP:
        raise InvalidInput(f"{field} {value!r} is outside the supported range (epoch ms >= 0)")
    return ms


def parse_alignment(value: str | int, field: str = "align", now: int | None = None) -> int:
    """A bucket alignment: a timestamp (epoch ms, ISO-8601, relative), or a duration taken as
    an offset from the epoch (``10m``: buckets start 10 minutes past the bucket grid)."""
    if isinstance(value, str) and _DURATION_FULL.fullmatch(value.strip()):
        return parse_duration(value, field)
    return parse_timestamp(value, field, now)


def parse_bound(
    value: str | int | None, field: str, now: int | None = None, *, clamp: bool = True
) -> int | None:
    """Parse a range bound: ``None``, ``-`` and ``+`` mean open (earliest / latest).

    A blank value counts as ``+`` too: an unencoded ``+`` in a query string arrives as a space.
    With ``clamp``, a time before 1970 (``-100000d``, an old date) is the start of time and a
    time past the largest timestamp is the end, instead of an error.
    """
    if value is None or (isinstance(value, str) and value.strip() in ("-", "+", "")):
        return None
    if clamp and isinstance(value, str):
        ms = _parse_text(value.strip(), field, now)
        return min(max(ms, 0), MAX_TIMESTAMP)
    return parse_timestamp(value, field, now)


def _parse_text(text: str, field: str, now: int | None) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    if text == "now":
        return now if now is not None else now_ms()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        sign, duration = relative.groups()
        offset = parse_duration(duration, field)
        base = now if now is not None else now_ms()
        return base + offset if sign == "+" else base - offset
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(
            f"{field} {text!r} is not a timestamp: use epoch milliseconds, ISO-8601 "
            "(2024-01-31T12:00:00Z) or a relative time (now, -15m, -1h, -7d)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def format_iso(ms: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC string with millisecond precision."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
