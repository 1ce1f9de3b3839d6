"""Label discovery, and deleting ranges across the series a label filter selects."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_response, validate_querystring

from api.contract import answers, links, path_types
from api.extensions import store
from api.responses import json_response
from api.schemas import DeletedPerSeries, LabelsOut, LabelValuesOut
from core.fields import BoundIn, FilterList, LabelName, QueryBool, StrictModel
from tsdb.labels import delete_matching, label_counts, label_names, label_values
from tsdb.timefmt import parse_bound

__all__ = ["bp"]

bp = Blueprint("labels", __name__, url_prefix="/v1")


class LabelArgs(StrictModel):
    filter: FilterList | None = Field(None, description="Only series matching these filters")


class LabelValuesArgs(LabelArgs):
    with_counts: QueryBool = Field(False, description="Also give how many series have each value")


class DeleteMatchingArgs(StrictModel):
    """Both bounds are required so nothing is deleted by accident ('-'/'+' for all)."""

    filter: FilterList = Field(description="Label filters selecting the series")
    from_: BoundIn = Field(alias="from")
    to: BoundIn


@bp.get("/labels")
@links(200, LabelValues=("list_label_values", {"name": "$response.body#/labels/0"}))
@validate_querystring(LabelArgs)
@document_response(LabelsOut)
async def list_labels(query_args: LabelArgs) -> Response:
    """Every label name in use (optionally among the series a filter selects)."""
    return json_response({"labels": await label_names(store(), query_args.filter)})


@bp.get("/labels/<name>/values")
@path_types(name=LabelName)
@validate_querystring(LabelValuesArgs)
@document_response(LabelValuesOut)
async def list_label_values(name: str, query_args: LabelValuesArgs) -> Response:
    """Every value a label takes (optionally among the series a filter selects), and with
    ``with_counts=true`` how many series have each."""
    if not query_args.with_counts:
        values = await label_values(store(), name, query_args.filter)
        return json_response({"label": name, "values": values})
    counts = await label_counts(store(), name, query_args.filter)
    return json_response({"label": name, "values": list(counts), "counts": counts})


@bp.delete("/points")
@answers(404, 409)
@validate_querystring(DeleteMatchingArgs)
@document_response(DeletedPerSeries)
async def delete_points_matching(query_args: DeleteMatchingArgs) -> Response:
    """Delete a time range in every series a label filter selects; counts per series."""
    deleted = await delete_matching(
        store(),
        query_args.filter,
        parse_bound(query_args.from_, "from"),
        parse_bound(query_args.to, "to"),
    )
    return json_response({"deleted": deleted, "total": sum(deleted.values())})
