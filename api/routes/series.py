"""Series: create, list, show, change and delete."""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint, Response, url_for
from quart_schema import document_response, validate_querystring, validate_request

from api.contract import links, path_types
from api.extensions import store
from api.params import series_config
from api.responses import json_response
from api.routes.rollups import labels_changed
from api.schemas import (
    NoContent,
    Problem,
    SeriesCreate,
    SeriesListArgs,
    SeriesListOut,
    SeriesPatch,
)
from core.fields import SeriesKey
from tsdb.models import SeriesInfo

__all__ = ["bp", "series_document"]

bp = Blueprint("series", __name__, url_prefix="/v1/series")


def series_document(info: SeriesInfo) -> dict[str, object]:
    """The JSON shape of a series."""
    return asdict(info)


@bp.post("")
@links(
    201,
    GetSeries=("get_series", {"key": "$response.body#/key"}),
    PatchSeries=("patch_series", {"key": "$response.body#/key"}),
    DeleteSeries=("delete_series", {"key": "$response.body#/key"}),
    WritePoints=("write_points", {"key": "$response.body#/key"}),
    ReadPoints=("read_points", {"key": "$response.body#/key"}),
    DeletePoints=("delete_points", {"key": "$response.body#/key"}),
    CreateRule=("create_rule", {"key": "$response.body#/key"}),
    ListRules=("list_rules", {"key": "$response.body#/key"}),
)
@validate_request(SeriesCreate)
@document_response(SeriesInfo, 201)
@document_response(Problem, 409)
async def create_series(data: SeriesCreate) -> Response:
    """Create a series with labels, retention, duplicate policy, chunk size and encoding."""
    await store().create(data.key, series_config(data))
    info = await store().info(data.key)
    location = url_for("series.get_series", key=data.key)
    return json_response(series_document(info), 201, headers={"Location": location})


@bp.get("")
@validate_querystring(SeriesListArgs)
@document_response(SeriesListOut)
async def list_series(query_args: SeriesListArgs) -> Response:
    """List series (all, or those matching label filters), sorted by key, with labels."""
    page, more = await store().page(query_args.after, query_args.limit, query_args.filter)
    labels = await store().labels_of(page)
    body = {
        "series": [{"key": k, "labels": labels[k]} for k in page if k in labels],
        "next": page[-1] if more and page else None,
    }
    return json_response(body)


@bp.get("/<key>")
@path_types(key=SeriesKey)
@document_response(SeriesInfo)
@document_response(Problem, 404)
async def get_series(key: str) -> Response:
    """Show a series: labels, sample count, first/last timestamps, retention, rules."""
    return json_response(series_document(await store().info(key)))


@bp.patch("/<key>")
@path_types(key=SeriesKey)
@validate_request(SeriesPatch)
@document_response(SeriesInfo)
async def patch_series(key: str, data: SeriesPatch) -> Response:
    """Change labels (replacing them all), retention, duplicate policy or chunk size."""
    await store().alter(key, series_config(data))
    if data.labels is not None:
        await labels_changed(key)  # ROLLUPS: the policies that select it may have changed
    return json_response(series_document(await store().info(key)))


@bp.delete("/<key>")
@path_types(key=SeriesKey)
@document_response(NoContent, 204)
@document_response(Problem, 404)
async def delete_series(key: str) -> Response:
    """Delete a series and all its samples."""
    await store().delete(key)
    return Response(status=204)
