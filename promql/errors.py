"""Errors of the PromQL engine, remote-write decoding and API parameter parsing.

Each class carries ``error_type``, the ``errorType`` of Prometheus' JSON envelope the API
answers with (``bad_data`` → 400, ``execution`` → 422, ``timeout`` → 503,
``canceled`` → 503). Nothing here knows about HTTP. The tree::

    PromQLError
    ├── BadData                 a query, parameter or body Prometheus would refuse (bad_data)
    │   ├── ParseError          the expression does not parse
    │   └── RemoteWriteError    a remote-write body that cannot be decoded or is invalid
    ├── ExecutionError          evaluation failed the way Prometheus' does (execution)
    │   └── Unsupported         valid PromQL this engine does not implement (names the construct)
    ├── QueryTimeout            the deadline passed during evaluation (timeout)
    └── QueryCanceled           the caller cancelled the query (canceled)
"""

from __future__ import annotations

__all__ = [
    "BadData",
    "ExecutionError",
    "ParseError",
    "PromQLError",
    "QueryCanceled",
    "QueryTimeout",
    "RemoteWriteError",
    "Unsupported",
]


class PromQLError(Exception):
    """Base class of every error this package raises on purpose."""

    error_type = "execution"


class BadData(PromQLError):
    """A query, parameter or request body Prometheus would answer with ``bad_data``."""

    error_type = "bad_data"


class ParseError(BadData):
    """The PromQL expression does not parse (or fails the parser's type checks)."""


class RemoteWriteError(BadData):
    """A remote-write body that is not snappy + ``prometheus.WriteRequest``, or invalid."""


class ExecutionError(PromQLError):
    """Evaluation failed where Prometheus' fails too (for example duplicate label sets)."""

    error_type = "execution"


class Unsupported(ExecutionError):
    """Valid PromQL that this engine does not implement; the message names the construct.

    Raised before any data is read, never after a partial evaluation.
    """


class QueryTimeout(PromQLError):
    """The query's deadline passed while it was being evaluated."""

    error_type = "timeout"


class QueryCanceled(PromQLError):
    """The query was cancelled by its caller."""

    error_type = "canceled"
