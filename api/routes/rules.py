"""Compaction rules out of a series."""

from __future__ import annotations

import contextlib
from dataclasses import asdict

from quart import Blueprint, Response, url_for
from quart_schema import document_response, validate_request

from api.contract import links, path_types
from api.extensions import store
from api.responses import json_response
from api.schemas import NoContent, Problem, RuleIn, RuleOut, RulesOut
from core.fields import SeriesKey
from tsdb.errors import RuleConflict, SeriesExists
from tsdb.models import Rule, SeriesConfig
from tsdb.timefmt import parse_alignment, parse_duration

__all__ = ["bp"]

bp = Blueprint("rules", __name__, url_prefix="/v1/series")


@bp.post("/<key>/rules")
@path_types(key=SeriesKey)
@links(
    201,
    ListRules=("list_rules", {"key": "$request.path.key"}),
    DeleteRule=("delete_rule", {"key": "$request.path.key", "dest": "$response.body#/dest"}),
    GetDest=("get_series", {"key": "$response.body#/dest"}),
)
@validate_request(RuleIn)
@document_response(RuleOut, 201)
@document_response(Problem, 409)
async def create_rule(key: str, data: RuleIn) -> Response:
    """Compact this series into dest with an aggregator per bucket (TS.CREATERULE)."""
    if data.dest == key:  # the rule would conflict with the series itself
        raise RuleConflict(f"a series cannot be compacted into itself ({key!r})")
    rule = Rule(
        dest=data.dest,
        bucket_ms=parse_duration(data.bucket, "bucket"),
        aggregation=data.agg,
        align_ms=parse_alignment(data.align, "align"),
    )
    store().check_same_slot(key, data.dest)  # before creating anything
    if data.create_dest and not await store().exists(data.dest):
        await store().info(key)  # 404 for an unknown source before creating anything
        with contextlib.suppress(SeriesExists):
            await store().create(data.dest, SeriesConfig(labels=data.dest_labels))
    await store().create_rule(key, rule)
    location = url_for("rules.list_rules", key=key)
    return json_response(asdict(rule), 201, headers={"Location": location})


@bp.get("/<key>/rules")
@path_types(key=SeriesKey)
@document_response(RulesOut)
async def list_rules(key: str) -> Response:
    """The compaction rules out of this series."""
    return json_response({"rules": [asdict(r) for r in await store().rules(key)]})


@bp.delete("/<key>/rules/<dest>")
@path_types(key=SeriesKey, dest=SeriesKey)
@document_response(NoContent, 204)
@document_response(Problem, 404)
async def delete_rule(key: str, dest: str) -> Response:
    """Remove the compaction rule from this series into dest (dest keeps its data)."""
    await store().delete_rule(key, dest)
    return Response(status=204)
