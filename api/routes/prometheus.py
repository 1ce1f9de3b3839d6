"""Prometheus' HTTP API over tsapi's series: PromQL queries, series and label discovery,
and remote write, for Grafana and the rest of the Prometheus ecosystem.

Registered twice, under ``/api/v1`` and ``/prometheus/api/v1``; hidden from the OpenAPI
document (Prometheus' own contract is docs/querying/api.md of prometheus/prometheus).
Answers use Prometheus' envelope, ``{"status":"success","data":...}``, and errors
``{"status":"error","errorType":...,"error":...}``: ``bad_data`` 400, ``execution`` 422,
``timeout`` and ``unavailable`` 503, and for tsapi's own refusals (no key, wrong scope,
rate limit, body too large) their usual status with ``errorType`` ``unauthorized``,
``forbidden``, ``too_many_requests`` or ``bad_data``. Queries need the ``read`` scope
(``POST`` included), ``/write`` the ``write`` scope; a key limited to a label filter sees
only its series everywhere here (its filter is added to every selector).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from quart import Blueprint, Response, current_app, g, request
from quart_schema import hide
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from api.errors import ApiError
from api.extensions import settings, store
from api.outage import outage_log
from api.prom_write import read_body, write_remote
from api.promql_source import RedisSource, prom_labels
from api.responses import dumps
from core.version import VERSION
from promql import Engine, PromQLError, ast, parse, result_json
from promql.errors import BadData
from promql.labels import METRIC_NAME
from promql.params import MAX_TIME_MS, MIN_TIME_MS, parse_duration, parse_time
from tsdb.errors import InvalidInput, InvalidQuery, StoreUnavailable, WriteRejected

__all__ = ["PREFIXES", "bp"]

log = logging.getLogger(__name__)

bp = Blueprint("prometheus", __name__)
PREFIXES = {"prometheus": "/api/v1", "prometheus_prefixed": "/prometheus/api/v1"}
"""Blueprint name -> URL prefix it is registered under (api/app.py)."""

_STATUS = {"bad_data": 400, "execution": 422, "canceled": 499, "timeout": 503}
_TYPES = {401: "unauthorized", 403: "forbidden", 429: "too_many_requests", 503: "unavailable"}
_TIMEOUT_MARGIN = 0.9  # of the request timeout: the engine stops first, with its own error
_SHOWN_REJECTIONS = 10
_QUERY_METHODS = ["GET", "POST"]


# -- helpers ----------------------------------------------------------------------------------


def _success(data_json: bytes | str) -> Response:
    body = data_json.encode() if isinstance(data_json, str) else data_json
    return Response(
        b'{"status":"success","data":' + body + b"}",
        status=200,
        mimetype="application/json",
    )


def _error(status: int, error_type: str, message: str, headers: Any = None) -> Response:
    body = dumps({"status": "error", "errorType": error_type, "error": message})
    response = Response(body, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def _params() -> MultiDict[str, str]:
    """The query string and, for a form POST, the form (Prometheus' ``r.FormValue``)."""
    merged: MultiDict[str, str] = MultiDict()
    if request.method == "POST":
        form = await request.form
        for key, values in form.lists():
            merged.setlist(key, values)
    for key, values in request.args.lists():
        if key not in merged:
            merged.setlist(key, values)
    return merged


def _reach_filters() -> tuple[str, ...]:
    key = g.get("api_key")
    return tuple(key.reach.filters) if key is not None else ()


def _source() -> RedisSource:
    return RedisSource(store(), _reach_filters())


def _deadline(params: MultiDict[str, str]) -> float:
    cap = float(settings().request_timeout) * _TIMEOUT_MARGIN
    given = params.get("timeout")
    seconds = cap if not given else min(parse_duration(given, "timeout") / 1000, cap)
    return time.monotonic() + seconds


def _time(params: MultiDict[str, str], name: str, default: int) -> int:
    text = params.get(name)
    return default if not text else parse_time(text, name)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _selectors(params: MultiDict[str, str]) -> list[ast.VectorSelector]:
    found = []
    for text in params.getlist("match[]"):
        try:
            expr = parse(text)
        except PromQLError as exc:
            raise BadData(f'invalid parameter "match[]": {exc}') from None
        if not isinstance(expr, ast.VectorSelector):
            raise BadData(
                f'invalid parameter "match[]": 1:1: parse error: unexpected expression {text!r}'
            )
        found.append(expr)
    return found


def _limit(params: MultiDict[str, str]) -> int | None:
    text = params.get("limit")
    if not text:
        return None
    try:
        limit = int(text)
    except ValueError:
        message = f'invalid parameter "limit": cannot parse "{text}" to a valid limit'
        raise BadData(message) from None
    return limit if limit > 0 else None


# -- queries ----------------------------------------------------------------------------------


@bp.route("/query", methods=_QUERY_METHODS)
@hide
async def query() -> Response:
    """An instant PromQL query (``query``, ``time``, ``timeout``)."""
    params = await _params()
    at = _time(params, "time", _now_ms())
    engine = Engine(_source())
    result = await engine.instant_query(params.get("query", ""), at, deadline=_deadline(params))
    return _success(result_json(result))


@bp.route("/query_range", methods=_QUERY_METHODS)
@hide
async def query_range() -> Response:
    """A range PromQL query (``query``, ``start``, ``end``, ``step``, ``timeout``)."""
    params = await _params()
    for name in ("start", "end", "step"):
        if not params.get(name):
            raise BadData(
                f'invalid parameter "{name}": cannot parse "" to a valid '
                + ("duration" if name == "step" else "timestamp")
            )
    start = parse_time(params["start"], "start")
    end = parse_time(params["end"], "end")
    step = parse_duration(params["step"], "step")
    engine = Engine(_source())
    result = await engine.range_query(
        params.get("query", ""), start, end, step, deadline=_deadline(params)
    )
    return _success(result_json(result))


# -- discovery --------------------------------------------------------------------------------


async def _matching_labels(params: MultiDict[str, str]) -> list[dict[str, str]] | None:
    """The Prometheus label sets of the series ``match[]`` selects in ``start``..``end``, or
    None when no ``match[]`` was given."""
    selectors = _selectors(params)
    if not selectors:
        return None
    start = _time(params, "start", MIN_TIME_MS)
    end = _time(params, "end", MAX_TIME_MS)
    source = _source()
    found: dict[str, dict[str, str]] = {}
    for selector in selectors:
        for series in await source.raw(selector.matchers, max(start, 0), max(end, 0)):
            if len(series.t):
                found.setdefault(series.key, prom_labels(series.key, series.labels))
    return list(found.values())


async def _all_labels() -> list[dict[str, str]] | None:
    """Every visible series' label set when the key is limited (None: unlimited)."""
    filters = _reach_filters()
    if not filters:
        return None
    reached = await store().labels_matching(filters)
    return [prom_labels(key, labels) for key, labels in reached.items()]


async def _found(params: MultiDict[str, str]) -> list[dict[str, str]] | None:
    found = await _matching_labels(params)
    return found if found is not None else await _all_labels()


@bp.route("/series", methods=_QUERY_METHODS)
@hide
async def series() -> Response:
    """The label sets of the series ``match[]`` selects (``start``, ``end``, ``limit``)."""
    params = await _params()
    found = await _matching_labels(params)
    if found is None:
        raise BadData("no match[] parameter provided")
    found.sort(key=lambda labels: sorted(labels.items()))
    limit = _limit(params)
    return _success(dumps(found[:limit] if limit else found))


@bp.route("/labels", methods=_QUERY_METHODS)
@hide
async def labels() -> Response:
    """Every label name (of the series ``match[]`` selects, if given)."""
    params = await _params()
    found = await _found(params)
    if found is None:
        indexed = await store().index.names()
        if indexed is None:
            names = {n for labels in await _every_series() for n in labels}
        else:
            names = set(indexed) | ({METRIC_NAME} if await store().index.count() else set())
    else:
        names = {n for labels in found for n in labels}
    limit = _limit(params)
    ordered = sorted(names)
    return _success(dumps(ordered[:limit] if limit else ordered))


async def _every_series() -> list[dict[str, str]]:
    data = store()
    keys = await data.keys()
    found: list[dict[str, str]] = []
    for start in range(0, len(keys), 10_000):
        batch = await data.labels_of(keys[start : start + 10_000])
        found += [prom_labels(k, v) for k, v in batch.items()]
    return found


async def _names() -> list[str]:
    """Every ``__name__`` value: the label's values and the keys of series without one."""
    data = store()
    values = set(await data.index.value_list(METRIC_NAME) or [])
    named = sum((await data.index.values(METRIC_NAME) or {}).values())
    total = await data.index.count()
    if total is None or named < total:
        values |= {labels[METRIC_NAME] for labels in await _every_series()}
    return sorted(values)


@bp.route("/label/<name>/values", methods=["GET"])
@hide
async def label_values(name: str) -> Response:
    """Every value of one label (among the series ``match[]`` selects, if given)."""
    params = await _params()
    found = await _found(params)
    if found is not None:
        values = sorted({labels[name] for labels in found if labels.get(name)})
    elif name == METRIC_NAME:
        values = await _names()
    else:
        values = await store().index.value_list(name) or []
        if not values and await store().index.count() is None:
            values = sorted({s[name] for s in await _every_series() if s.get(name)})
    limit = _limit(params)
    return _success(dumps(values[:limit] if limit else values))


@bp.route("/metadata", methods=["GET"])
@hide
async def metadata() -> Response:
    """Metric metadata: tsapi keeps none (remote write's metadata is not stored)."""
    return _success(b"{}")


@bp.route("/status/buildinfo", methods=["GET"])
@hide
async def buildinfo() -> Response:
    """What Grafana reads to pick its Prometheus flavour and version."""
    return _success(
        dumps(
            {
                "version": "2.42.0",
                "revision": f"tsapi-{VERSION}",
                "branch": "tsapi",
                "buildUser": "tsapi",
                "buildDate": "",
                "goVersion": "",
            }
        )
    )


# -- remote write -----------------------------------------------------------------------------


@bp.route("/write", methods=["POST"])
@hide
async def remote_write() -> Response:
    """Prometheus remote write 1.0 (snappy + protobuf): 204 once stored."""
    body = await read_body()
    summary, _specials, _ = await write_remote(body)
    response = Response(b"", status=204)
    if summary is not None and summary.ignored:
        response.headers["X-Tsapi-Ignored"] = str(summary.ignored.count)
    return response


# -- errors in Prometheus' shape --------------------------------------------------------------


@bp.errorhandler(PromQLError)
async def promql_error(exc: PromQLError) -> Response:
    return _error(_STATUS.get(exc.error_type, 422), exc.error_type, str(exc))


@bp.errorhandler(InvalidQuery)
async def invalid_query(exc: InvalidQuery) -> Response:
    return _error(400, "bad_data", str(exc))


@bp.errorhandler(WriteRejected)
async def rejected(exc: WriteRejected) -> Response:
    items = exc.rejections.items
    shown = "; ".join(
        f"sample {r.pos}" + (f" of {r.key}" if r.key else "") + f": {r.reason}"
        for r in items[:_SHOWN_REJECTIONS]
    )
    more = exc.rejections.count - min(len(items), _SHOWN_REJECTIONS)
    if more > 0:
        shown += f"; and {more} more"
    return _error(
        400,
        "bad_data",
        f"{exc.rejections.count} samples rejected ({exc.written} written): {shown}",
    )


@bp.errorhandler(InvalidInput)
async def invalid(exc: InvalidInput) -> Response:
    return _error(400, "bad_data", str(exc))


@bp.errorhandler(ApiError)
async def api_error(exc: ApiError) -> Response:
    headers = getattr(exc, "headers", None)
    kind = _TYPES.get(exc.status, "bad_data" if exc.status < 500 else "internal")
    return _error(exc.status, kind, exc.detail, headers)


@bp.errorhandler(HTTPException)
async def http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"the request body is larger than the limit of {limit} bytes"
        return _error(413, "bad_data", message)
    kind = _TYPES.get(status, "bad_data" if status < 500 else "internal")
    return _error(status, kind, exc.description or exc.name)


@bp.errorhandler(StoreUnavailable)
async def unavailable(exc: StoreUnavailable) -> Response:
    outage_log().refused(str(exc), f"{request.method} {request.path}")
    return _error(
        503, "unavailable", "the time-series store is unavailable; retry shortly",
        {"Retry-After": "1"},
    )  # fmt: skip


@bp.errorhandler(Exception)
async def unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _error(500, "internal", "an unexpected error occurred")
