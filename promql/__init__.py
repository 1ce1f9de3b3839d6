"""PromQL for tsapi: a Prometheus 2.42-compatible query engine and remote-write decoding.

Pure (numpy and a maintained parser; no Redis, no HTTP). The API wires it up:

- :class:`Engine` evaluates instant and range queries over a :class:`Source`, which
  the API implements over RedisTimeSeries (:class:`MemorySource` for tests);
- :func:`result_data` turns a :class:`QueryResult` into the ``data`` object of
  Prometheus' JSON envelope; :mod:`promql.params` parses the API's parameters;
- :mod:`promql.remote_write` decodes ``POST /api/v1/write`` bodies;
- every error is a :class:`PromQLError` whose ``error_type`` is Prometheus' ``errorType``.
"""

from promql.errors import (
    BadData,
    ExecutionError,
    ParseError,
    PromQLError,
    QueryCanceled,
    QueryTimeout,
    RemoteWriteError,
    Unsupported,
)
from promql.eval.engine import DEFAULT_LOOKBACK_MS, Engine
from promql.eval.result import QueryResult
from promql.format import format_timestamp, format_value, result_data, result_json
from promql.memory import MemorySource
from promql.model import STALE_NAN, STALE_NAN_BITS, Labels, Matcher, Series, Source, is_stale
from promql.parse import parse

__all__ = [
    "DEFAULT_LOOKBACK_MS",
    "STALE_NAN",
    "STALE_NAN_BITS",
    "BadData",
    "Engine",
    "ExecutionError",
    "Labels",
    "Matcher",
    "MemorySource",
    "ParseError",
    "PromQLError",
    "QueryCanceled",
    "QueryResult",
    "QueryTimeout",
    "RemoteWriteError",
    "Series",
    "Source",
    "Unsupported",
    "format_timestamp",
    "format_value",
    "is_stale",
    "parse",
    "result_data",
    "result_json",
]
