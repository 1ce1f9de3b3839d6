"""Points of one series: write, read a range, update one, delete a range."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_request, document_response, validate_querystring, validate_request

from api.contract import answers, checks_own_body, links, path_types
from api.errors import ApiError
from api.extensions import store
from api.json_body import read_json_body
from api.params import check_labels, parse_points, range_query, read_options
from api.reading import single_series_response
from api.responses import ignored_fields, json_response
from api.schemas import (
    DeleteResult,
    PageArgs,
    PointOut,
    PointsOut,
    PointValue,
    Problem,
    StrictModel,
    WriteArgs,
    WritePointsBody,
    WriteResult,
)
from core.fields import BoundIn, SeriesKey, TimeIn
from tsdb.errors import InvalidInput, SeriesNotFound
from tsdb.faults import RETENTION
from tsdb.keys import validate_key
from tsdb.timefmt import parse_bound, parse_timestamp

__all__ = ["bp"]

bp = Blueprint("points", __name__, url_prefix="/v1/series")


class DeleteRangeArgs(StrictModel):
    """Both bounds are required so that nothing is deleted by accident ('-'/'+' for all)."""

    from_: BoundIn = Field(alias="from")
    to: BoundIn


@bp.post("/<key>/points")
@checks_own_body
@path_types(key=SeriesKey)
@answers(409)
@links(200, ReadPoints=("read_points", {"key": "$request.path.key"}))
@links(201, ReadPoints=("read_points", {"key": "$request.path.key"}))
@validate_querystring(WriteArgs)
@document_request(WritePointsBody)
@document_response(WriteResult)
@document_response(WriteResult, 201)
@document_response(Problem, 422)
async def write_points(key: str, query_args: WriteArgs) -> Response:
    """Write one point, a list of points, or {"points": [...], "labels": {...}}."""
    validate_key(key)
    body = await read_json_body()
    labels: dict[str, str] = {}
    if isinstance(body, dict) and "points" in body:
        extra = set(body) - {"points", "labels"}
        if extra:
            raise InvalidInput(f"unknown field(s): {', '.join(sorted(extra))}")
        raw_labels = body.get("labels")
        labels = {} if raw_labels is None else check_labels(raw_labels)
        body = body["points"]
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise InvalidInput('send a point, a non-empty list of points, or {"points": [...]}')
    times, values = parse_points(items)
    if not query_args.create and not await store().exists(key):
        raise SeriesNotFound(key)
    summary = await store().add_many(
        [(key, t, v) for t, v in zip(times, values, strict=True)],
        create=query_args.create,
        labels=labels,
    )
    created = summary.created > 0
    body = {"written": summary.written, "created": created, **ignored_fields(summary.ignored)}
    return json_response(body, 201 if created else 200)


@bp.get("/<key>/points")
@path_types(key=SeriesKey)
@validate_querystring(PageArgs)
@document_response(PointsOut)
@document_response(Problem, 404)
async def read_points(key: str, query_args: PageArgs) -> Response:
    """Samples in a range, raw or aggregated, streamed as JSON or CSV (or paged)."""
    validate_key(key)
    return await single_series_response(
        store(), key, range_query(query_args), read_options(query_args)
    )


@bp.put("/<key>/points/<t>")
@path_types(key=SeriesKey, t=TimeIn)
@answers(409)
@validate_request(PointValue)
@document_response(PointOut)
@document_response(PointOut, 201)
async def put_point(key: str, t: str, data: PointValue) -> Response:
    """Set the value at one timestamp, whatever the series' duplicate policy."""
    ts = parse_timestamp(t, "t")
    try:
        created = await store().upsert(key, ts, _finite(data.v))
    except InvalidInput as exc:
        if str(exc) == RETENTION:  # a valid request the series' state refuses
            raise PointConflict(str(exc)) from None
        raise
    return json_response({"t": ts, "v": data.v}, 201 if created else 200)


@bp.delete("/<key>/points")
@path_types(key=SeriesKey)
@answers(409)
@validate_querystring(DeleteRangeArgs)
@document_response(DeleteResult)
async def delete_points(key: str, query_args: DeleteRangeArgs) -> Response:
    """Delete the samples between from and to (inclusive); says how many went."""
    deleted = await store().delete_range(
        key, parse_bound(query_args.from_, "from"), parse_bound(query_args.to, "to")
    )
    return json_response({"deleted": deleted})


class PointConflict(ApiError):
    """The series refuses the point (older than its retention window)."""

    def __init__(self, reason: str) -> None:
        super().__init__(409, "points-conflict", "The point conflicts with the stored data", reason)


def _finite(v: float) -> float:
    if v != v or v in (float("inf"), float("-inf")):
        raise InvalidInput("value must be finite (no NaN or Infinity)")
    return v
