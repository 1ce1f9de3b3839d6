"""What the sync and async clients share: settings, retries, requests as data, times.

Every API operation is a function in :mod:`tsapi_client._calls` or :mod:`tsapi_client._bulk`
returning a :class:`Call` (method, path, query, body and a parser of the answer);
:class:`~tsapi_client.sync.Client` and :class:`~tsapi_client.aio.AsyncClient` only send
calls, so both speak to the API in exactly the same way.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

import httpx
from tenacity import RetryCallState

try:  # faster JSON when it is there (it is with the server); the standard library otherwise
    import orjson
except ImportError:  # pragma: no cover - depends on what is installed
    orjson = None  # type: ignore[assignment]

from tsapi_client.errors import ConnectionFailed, StreamInterrupted, api_error
from tsapi_client.models import Aggregation, BucketTimestamp, FillPolicy, Function

__all__ = [
    "DEFAULT_URL",
    "Call",
    "DurationLike",
    "Filters",
    "RetryPolicy",
    "TimeLike",
    "check",
    "range_params",
    "to_duration",
    "to_time",
]

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:5000"
ENV_URL = "TSAPI_URL"
ENV_API_KEY = "TSAPI_API_KEY"
USER_AGENT = "tsapi-client/0.1"


TimeLike = int | str | datetime | date
"""Epoch ms, ISO-8601 or relative text (``-1h``, ``now``), or a datetime (naive = UTC)."""
DurationLike = int | str | timedelta
"""Milliseconds, text (``30s``, ``5m``, ``1h30m``) or a timedelta."""
Filters = str | Sequence[str]
"""One label filter (``city=austin``) or several, all of which must hold."""

JSON = "application/json"
# -- settings ----------------------------------------------------------------------------------


def base_url(url: str | None) -> str:
    """The API's URL: given, else ``TSAPI_URL``, else the local default."""
    return (url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")


def headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """Default headers; the API key (given or ``TSAPI_API_KEY``) as a bearer token."""
    out = {"User-Agent": USER_AGENT, "Accept": f"{JSON}, application/problem+json"}
    key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
    if key:
        out["Authorization"] = f"Bearer {key}"
    out.update(extra or {})
    return out


# -- retries -----------------------------------------------------------------------------------


RETRIED_STATUSES = (429, 503)


class ServerBusy(Exception):
    """A 429 or 503 answer, raised inside the retry loop so that it may be retried."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(str(response.status_code))
        self.response = response

    @property
    def retry_after(self) -> float | None:
        """The ``Retry-After`` header in seconds (None if absent or not a number)."""
        with contextlib.suppress(ValueError, TypeError):
            return max(0.0, float(self.response.headers.get("Retry-After", "")))
        return None

    @property
    def partly_applied(self) -> bool:
        """A 503 whose problem says points were already stored (a bulk write cut by an
        outage): sending it again is for the caller to decide."""
        if self.response.status_code != 503:
            return False
        with contextlib.suppress(ValueError):
            problem = loads(self.response.content)
            return isinstance(problem, dict) and bool(problem.get("written"))
        return False


@dataclass(frozen=True)
class RetryPolicy:
    """Retry refused connections, 429 and 503 answers, with exponential backoff.

    A refused connection means the request was never sent; a 429 or a 503 that it was turned
    away (a 503 that says points were stored is not retried). ``Retry-After`` is honoured:
    the wait is the longer of it and the backoff, and an answer asking for more than
    ``max_wait`` seconds is not retried (the error carries ``retry_after``). 504 is never
    retried: the request may have been applied.
    """

    retries: int = 3
    backoff: float = 0.25
    max_wait: float = 5.0

    def should_retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        if isinstance(exc, ServerBusy):
            wanted = exc.retry_after or 0.0
            return not exc.partly_applied and wanted <= self.max_wait
        return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)

    def wait(self, state: RetryCallState) -> float:
        delay = self.backoff * 2 ** (state.attempt_number - 1)
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ServerBusy) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return min(delay, self.max_wait)

    def tenacity_args(self) -> dict[str, Any]:
        from tenacity import stop_after_attempt

        return {
            "retry": self.should_retry,
            "wait": self.wait,
            "stop": stop_after_attempt(self.retries + 1),
            "reraise": True,
        }


def transport_failure(url: str, exc: httpx.TransportError, attempts: int) -> ConnectionFailed:
    """A short, readable :class:`ConnectionFailed` for a transport error."""
    if isinstance(exc, httpx.ConnectError):
        reason = "connection refused" if "refused" in str(exc).lower() else str(exc) or "no answer"
    elif isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    else:
        reason = str(exc) or type(exc).__name__
    return ConnectionFailed(url, reason, attempts)


# -- requests and answers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    content_type: str | None = None

    def request_headers(self) -> dict[str, str] | None:
        return {"Content-Type": self.content_type} if self.content_type else None


def check(response: httpx.Response) -> httpx.Response:
    """The response if it is a success; else the :class:`ApiError` its problem+json describes."""
    if response.status_code < 400:
        return response
    problem: dict[str, Any]
    try:
        body = loads(response.content)
        problem = body if isinstance(body, dict) else {"detail": str(body)}
    except ValueError:
        text = response.text.strip()
        problem = {"title": response.reason_phrase, "detail": text[:500] or None}
    problem.setdefault("status", response.status_code)
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        with contextlib.suppress(ValueError):
            problem.setdefault("retry_after", float(retry_after))
    raise api_error(response.status_code, problem)


def dumps(data: Any) -> bytes:
    """JSON bytes of ``data`` (numpy arrays and scalars included; NaN becomes null)."""
    if orjson is not None:
        return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(_plain(data), separators=(",", ":"), allow_nan=False).encode()


def loads(data: bytes) -> Any:
    """Parse JSON bytes (orjson when it is installed, else the standard library)."""
    return orjson.loads(data) if orjson is not None else json.loads(data)


def _plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars as lists and numbers, NaN and infinities as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def parse_json(response: httpx.Response) -> Any:
    return loads(response.content)


CSV_ERROR_PREFIX = b"#error "


def parse_stream(response: httpx.Response) -> Any:
    """A streamed read (JSON or CSV), refusing one that a fault cut short: such an answer
    ends with an error record, raised as :class:`StreamInterrupted`."""
    content = response.content
    if response.headers.get("content-type", "").startswith("text/csv"):
        last = content.rstrip(b"\n").rpartition(b"\n")[2]
        if last.startswith(CSV_ERROR_PREFIX):
            _interrupted(loads(last[len(CSV_ERROR_PREFIX) :]))
        return content
    try:
        body = loads(content)
    except ValueError:  # not JSON at all: cut without a record (a lost connection)
        raise StreamInterrupted(
            response.status_code, {"title": "Incomplete answer", "detail": "cut short"}
        ) from None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        _interrupted(body["error"])
    return body


def _interrupted(problem: Any) -> None:
    record = problem if isinstance(problem, dict) else {"detail": str(problem)}
    raise StreamInterrupted(int(record.get("status") or 500), record)


def parse_nothing(response: httpx.Response) -> None:
    return None


def parse_bytes(response: httpx.Response) -> bytes:
    return response.content


def to_time(value: Any) -> int | str:
    """A time as the API takes it: epoch ms, or text it parses (ISO-8601, relative, -/+)."""
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"a time in epoch ms must be a whole number, not {value!r}")
        return int(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        return to_time(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if type(value).__name__ == "datetime64":
        import numpy as np

        return int(np.datetime64(value, "ms").astype("int64"))
    if hasattr(value, "item"):  # numpy integer
        return to_time(value.item())
    raise TypeError(f"cannot use {type(value).__name__} as a time")


def to_duration(value: DurationLike) -> int | str:
    """A duration as the API takes it."""
    if isinstance(value, timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a bool")
    return value


def _flag(value: bool) -> str:
    return "true" if value else "false"


def filter_list(filters: Filters) -> list[str]:
    items = [filters] if isinstance(filters, str) else list(filters)
    if not items:
        raise ValueError("give at least one label filter, e.g. 'city=austin'")
    return items


def range_params(
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    agg: Aggregation | str | None = None,
    bucket: DurationLike | None = None,
    align: TimeLike | None = None,
    bucket_timestamp: BucketTimestamp | str | None = None,
    empty: bool = False,
    filter_by_value: tuple[float, float] | None = None,
    filter_by_ts: Iterable[TimeLike] | None = None,
    count: int | None = None,
    reverse: bool = False,
    latest: bool = False,
    max_points: int | None = None,
    fill: FillPolicy | str | None = None,
    fn: Function | str | None = None,
    tier: str | None = None,
) -> list[tuple[str, str]]:
    """The query parameters of a range read (every TS.RANGE option, and the API's own)."""
    params: list[tuple[str, str]] = []
    if start is not None:
        params.append(("from", str(to_time(start))))
    if end is not None:
        params.append(("to", str(to_time(end))))
    if agg is not None:
        params.append(("agg", str(Aggregation(agg))))
    if bucket is not None:
        params.append(("bucket", str(to_duration(bucket))))
    if align is not None:
        params.append(("align", str(align if align in ("start", "end") else to_time(align))))
    if bucket_timestamp is not None:
        params.append(("bucket_timestamp", str(BucketTimestamp(bucket_timestamp))))
    if empty:
        params.append(("empty", "true"))
    if filter_by_value is not None:
        low, high = filter_by_value
        params.append(("filter_by_value", f"{low!r},{high!r}"))
    for t in filter_by_ts or ():
        params.append(("filter_by_ts", str(to_time(t))))
    if count is not None:
        params.append(("count", str(count)))
    if reverse:
        params.append(("reverse", "true"))
    if latest:
        params.append(("latest", "true"))
    if max_points is not None:
        params.append(("max_points", str(max_points)))
    if fill is not None:
        params.append(("fill", str(FillPolicy(fill))))
    if fn is not None:
        params.append(("fn", str(Function(fn))))
    if tier is not None:
        params.append(("tier", tier))
    return params


def json_call(method: str, path: str, body: Any, parse: Callable[[httpx.Response], T]) -> Call[T]:
    return Call(method, path, parse, body=dumps(body), content_type=JSON)
