"""Queries over many series at once: ranges by label filter, and latest values."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, validate_querystring

from api.extensions import store
from api.params import multi_range_query, read_options
from api.reading import multi_series_response
from api.responses import json_response
from api.schemas import LatestArgs, LatestOut, QueryArgs, QueryOut

__all__ = ["bp"]

bp = Blueprint("query", __name__, url_prefix="/v1")


@bp.get("/query")
@validate_querystring(QueryArgs)
@document_response(QueryOut)
async def query(query_args: QueryArgs) -> Response:
    """Ranges of every series a label filter selects, streamed; optionally grouped."""
    return await multi_series_response(
        store(), multi_range_query(query_args), read_options(query_args)
    )


@bp.get("/latest")
@validate_querystring(LatestArgs)
@document_response(LatestOut)
async def latest(query_args: LatestArgs) -> Response:
    """The newest sample of every series a label filter selects (TS.MGET)."""
    values = await store().latest(
        query_args.filter,
        latest=query_args.latest,
        with_labels=query_args.with_labels,
        selected_labels=tuple(query_args.selected_labels or ()),
    )
    return json_response(
        {
            "series": [
                {
                    "key": lv.key,
                    "labels": lv.labels,
                    "t": lv.point[0] if lv.point else None,
                    "v": lv.point[1] if lv.point else None,
                }
                for lv in values
            ]
        }
    )
