"""InfluxDB-compatible writes: ``/api/v2/write`` (2.x) and ``/write`` (1.x), plus ``/ping``.

Line protocol goes in exactly as InfluxDB takes it (any Content-Type, gzip, ``precision``);
success is ``204 No Content`` and errors are InfluxDB's JSON shape, ``{"code", "message"}``
(1.x clients also get ``"error"``), which its client libraries read. The bucket (or the 1.x
``db`` and ``rp``, as ``db/rp``) becomes the ``bucket`` label of every series written, and is
part of the series identity. ``Authorization: Token <key>`` is checked like every key
(:mod:`api.security.access`: a ``write`` key without series limits).
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response, current_app, request
from quart_schema import hide
from werkzeug.exceptions import HTTPException

from api.errors import ApiError
from api.extensions import store
from api.ingest.body import body_chunks
from api.ingest.lineproto import CREATE_OPTIONS, LineProtocolParser, parse_precision
from api.ingest.run import NoPoints, ingest
from api.outage import outage_log
from api.responses import dumps
from core.version import VERSION
from tsdb.errors import InvalidInput, StoreUnavailable, WriteRejected
from tsdb.rejections import Rejections
from tsdb.timefmt import now_ms

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("influx", __name__)

_CODES = {
    400: "invalid",
    401: "unauthorized",
    404: "not found",
    405: "method not allowed",
    413: "request too large",
    415: "unsupported media type",
    422: "unprocessable entity",
    429: "too many requests",
    503: "unavailable",
}
_SHOWN_ERRORS = 10


@bp.post("/api/v2/write")
@hide
async def write_v2() -> Response:
    """InfluxDB 2.x write: line protocol into bucket-labelled series (204 on success)."""
    bucket = request.args.get("bucket") or ""
    if not bucket:
        raise ApiError(400, "", "Bad Request", "bucket is required (the bucket query parameter)")
    return await _write(bucket, parse_precision(request.args.get("precision")))


@bp.post("/write")
@hide
async def write_v1() -> Response:
    """InfluxDB 1.x write: line protocol, db (and rp) as the bucket (204 on success)."""
    db = request.args.get("db") or ""
    if not db:
        raise ApiError(400, "", "Bad Request", "database is required")
    rp = request.args.get("rp")
    bucket = f"{db}/{rp}" if rp else db
    return await _write(bucket, parse_precision(request.args.get("precision"), v1=True))


@bp.route("/ping", methods=["GET", "HEAD"])
@hide
async def ping() -> Response:
    """InfluxDB's liveness check (204)."""
    return _no_content()


async def _write(bucket: str, precision: Any) -> Response:
    rejections = Rejections("line")
    parser = LineProtocolParser(rejections, now_ms(), precision, bucket=bucket)
    summary = await ingest(
        body_chunks(),
        parser,
        store(),
        create=True,
        create_options=CREATE_OPTIONS,
    )
    response = _no_content()
    if summary.ignored:  # InfluxDB has no word for these: say it in a header
        response.headers["X-Tsapi-Ignored"] = str(summary.ignored.count)
    return response


def _no_content() -> Response:

    response = Response(b"", status=204)
    response.headers["X-Influxdb-Build"] = "tsapi"
    response.headers["X-Influxdb-Version"] = f"tsapi-{VERSION}"
    return response


# -- errors in InfluxDB's shape -------------------------------------------------------------------


def _influx_error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {"code": _CODES.get(status, "internal error"), "message": message}
    if request.path == "/write":
        body["error"] = message  # what 1.x clients read
    body.update(extra)
    response = Response(dumps(body), status=status, mimetype="application/json")
    response.headers["X-Influxdb-Error"] = message[:512]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@bp.errorhandler(WriteRejected)
async def rejected(exc: WriteRejected) -> Response:
    items = exc.rejections.items
    shown = "; ".join(f"line {r.pos}: {r.reason}" for r in items[:_SHOWN_ERRORS])
    more = exc.rejections.count - min(len(items), _SHOWN_ERRORS)
    if more > 0:
        shown += f"; and {more} more"
    return _influx_error(
        400,
        f"partial write error ({exc.written} written): {shown}",
        line=items[0].pos if items else None,
        written=exc.written,
        rejected_count=exc.rejections.count,
    )


@bp.errorhandler(NoPoints)
async def no_points(exc: NoPoints) -> Response:
    return _influx_error(400, "writing requires points")


@bp.errorhandler(InvalidInput)
async def invalid(exc: InvalidInput) -> Response:
    return _influx_error(400, str(exc))


@bp.errorhandler(ApiError)
async def api_error(exc: ApiError) -> Response:
    extra = {k: v for k, v in exc.extra.items() if k == "written"}
    # 401/429 keep their WWW-Authenticate / Retry-After (RequestRefused carries headers)
    headers = getattr(exc, "headers", None)
    return _influx_error(exc.status, exc.detail, headers, **extra)


@bp.errorhandler(HTTPException)
async def http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return _influx_error(413, f"the request body is larger than the limit of {limit} bytes")
    return _influx_error(status, exc.description or exc.name)


@bp.errorhandler(StoreUnavailable)
async def unavailable(exc: StoreUnavailable) -> Response:
    outage_log().refused(str(exc), f"{request.method} {request.path}")
    return _influx_error(
        503, "the time-series store is unavailable; retry shortly", {"Retry-After": "1"}
    )


@bp.errorhandler(Exception)
async def unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _influx_error(500, "an unexpected error occurred")
