"""Series: create, list, show, change and delete."""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint, Response, url_for
from quart_schema import document_response, validate_querystring, validate_request

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
    SeriesOut,
    SeriesPatch,
)
from tsdb.models import SeriesInfo

__all__ = ["bp", "series_document"]

bp = Blueprint("series", __name__, url_prefix="/v1/series")


def series_document(info: SeriesInfo) -> dict[str, object]:
    """The JSON shape of a series."""
    return asdict(info)


@bp.post("")
@validate_request(SeriesCreate)
@document_response(SeriesOut, 201)
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
    keys = await store().keys(query_args.filter)
    if query_args.after is not None:
        keys = [k for k in keys if k > query_args.after]
    page = keys[: query_args.limit]
    labels = await store().labels_of(page)
    body = {
        "series": [{"key": k, "labels": labels[k]} for k in page if k in labels],
        "next": page[-1] if len(keys) > len(page) else None,
    }
    return json_response(body)


@bp.get("/<key>")
@document_response(SeriesOut)
@document_response(Problem, 404)
async def get_series(key: str) -> Response:
    """Show a series: labels, sample count, first/last timestamps, retention, rules."""
    return json_response(series_document(await store().info(key)))


@bp.patch("/<key>")
@validate_request(SeriesPatch)
@document_response(SeriesOut)
async def patch_series(key: str, data: SeriesPatch) -> Response:
    """Change labels (replacing them all), retention, duplicate policy or chunk size."""
    await store().alter(key, series_config(data))
    if data.labels is not None:
        await labels_changed(key)  # ROLLUPS: the policies that select it may have changed
    return json_response(series_document(await store().info(key)))


@bp.delete("/<key>")
@document_response(NoContent, 204)
@document_response(Problem, 404)
async def delete_series(key: str) -> Response:
    """Delete a series and all its samples."""
    await store().delete(key)
    return Response(status=204)
