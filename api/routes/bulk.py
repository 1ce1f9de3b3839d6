"""Bulk ingest: points of many series in one request (JSON, CSV or line protocol)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter
from quart import Blueprint, Response, request
from quart_schema import document_response, validate_querystring

from api.contract import answers, body_types
from api.errors import ApiError
from api.extensions import store
from api.ingest.body import body_chunks, check_encoding
from api.ingest.csvfmt import CsvParser
from api.ingest.jsonfmt import JsonParser
from api.ingest.lineproto import CREATE_OPTIONS, LineProtocolParser, Precision
from api.ingest.run import Parser, ingest
from api.responses import ignored_fields, json_response
from api.schemas import IgnoredPoint, PointIn, PointPair, Problem, Value
from core.fields import (
    LABEL_PARAM_PATTERN,
    Labels,
    QueryBool,
    SeriesKey,
    StrictModel,
    TimeIn,
    as_list,
)
from tsdb.errors import InvalidInput
from tsdb.keys import validate_key, validate_labels
from tsdb.rejections import Rejections
from tsdb.timefmt import now_ms

__all__ = ["BulkArgs", "BulkResult", "bp", "parse_label_params"]

bp = Blueprint("bulk", __name__)

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")
LINE_PROTOCOL_TYPES = ("text/plain", "application/x-influx-line-protocol")


class BulkArgs(StrictModel):
    """Options of a bulk write."""

    create: QueryBool = Field(
        False, description="Create missing series (line protocol always does)"
    )
    atomic: QueryBool = Field(False, description="Write nothing unless every point is valid")
    label: (
        Annotated[
            list[Annotated[str, Field(pattern=LABEL_PARAM_PATTERN)]], BeforeValidator(as_list)
        ]
        | None
    ) = Field(None, description="name=value, repeatable: labels of the series this request creates")
    precision: Literal["ns", "us", "ms", "s"] = Field(
        "ns", description="Line protocol timestamps: ns, us, ms or s"
    )
    key: SeriesKey | None = Field(
        None,
        description="CSV with a t,v header (one series, as format=csv exports it): its key",
    )


class BulkResult(BaseModel):
    written: int = Field(description="Points stored")
    series: int = Field(description="Series written to")
    created: int = Field(description="Series created by this request")
    ignored: int = Field(0, description="Points the series' IGNORE filter dropped (not stored)")
    ignored_points: list[IgnoredPoint] = Field(
        default_factory=list, description="Each ignored point (the first 1,000)"
    )


class BulkRow(StrictModel):
    """One point of a series."""

    key: SeriesKey
    t: TimeIn
    v: Value


class BulkColumns(StrictModel):
    """The points of one series as two arrays of the same length (the fast path)."""

    key: SeriesKey
    t: list[TimeIn] = Field(min_length=1)
    v: list[Value] = Field(min_length=1, description="As many values as times")
    labels: Labels | None = Field(None, description="Used if the series is created")


BySeries = Annotated[
    dict[SeriesKey, Annotated[list[PointIn | PointPair], Field(min_length=1)]],
    Field(
        min_length=1,
        description='{"<key>": [[t, v], ...], ...}',
        json_schema_extra={
            "allOf": [{"not": {"required": ["key", "t"]}}, {"not": {"required": ["key", "v"]}}]
        },
    ),
]
BulkJson = (
    BulkRow
    | Annotated[list[BulkRow], Field(min_length=1)]
    | BulkColumns
    | Annotated[list[BulkColumns], Field(min_length=1)]
    | BySeries
)
_TEXT = {"type": "string", "minLength": 1}
BULK_BODY: dict[str, dict[str, Any]] = {
    "application/json": {
        "schema": TypeAdapter(BulkJson).json_schema(ref_template="#/components/schemas/{model}"),
        "example": [{"key": "temp:austin", "t": 1706702400000, "v": 21.5}],
    },
    **{
        media: {
            "schema": {
                **_TEXT,
                "description": "CSV: a header 'key,t,v' (any order) and one point per line, or "
                "'t,<key>,<key>...' and one time per line with a value per series (empty "
                "cells skipped); times as epoch ms, RFC 3339 or relative. For example: "
                "key,t,v / temp:austin,1706702400000,21.5",
            },
        }
        for media in CSV_TYPES
    },
    **{
        media: {
            "schema": {
                **_TEXT,
                "description": "InfluxDB line protocol: measurement[,tag=value...] "
                "field=value[,field=value...] [timestamp], one point per line. For example: "
                "weather,city=austin temp=21.5 1706702400000000000",
            },
        }
        for media in LINE_PROTOCOL_TYPES
    },
}


@bp.post("/v1/points")
@body_types(BULK_BODY)
@answers(400, 408, 409, 413, 415)
@validate_querystring(BulkArgs)
@document_response(BulkResult)
@document_response(Problem, 422)
async def write_bulk(query_args: BulkArgs) -> Response:
    """Write points of many series at once: JSON, CSV or InfluxDB line protocol."""
    labels = parse_label_params(query_args.label)
    precision = Precision(query_args.precision)
    check_encoding()
    rejections: Rejections
    parser: Parser
    now = now_ms()
    mimetype = request.mimetype
    create = query_args.create
    options: tuple[str, ...] = ()
    if mimetype in JSON_TYPES:
        rejections = Rejections("index")
        parser = JsonParser(rejections, now)
    elif mimetype in CSV_TYPES:
        rejections = Rejections("line")
        key = None if query_args.key is None else validate_key(query_args.key)
        parser = CsvParser(rejections, now, key=key)
    elif mimetype in LINE_PROTOCOL_TYPES:
        rejections = Rejections("line")
        parser = LineProtocolParser(rejections, now, precision)
        create, options = True, CREATE_OPTIONS
    else:
        raise ApiError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            "send application/json, text/csv or text/plain (InfluxDB line protocol); got "
            f"{mimetype or 'no content type'}",
        )
    summary = await ingest(
        body_chunks(),
        parser,
        store(),
        atomic=query_args.atomic,
        create=create,
        labels=labels,
        create_options=options,
    )
    return json_response(
        {
            "written": summary.written,
            "series": summary.series,
            "created": summary.created,
            **ignored_fields(summary.ignored),
        }
    )


def parse_label_params(values: list[str] | None) -> dict[str, str]:
    """``["city=austin", ...]`` as a checked label dict. Values are kept as given, spaces
    included, as the document's pattern and every other way of setting labels keep them."""
    labels: dict[str, str] = {}
    for item in values or []:
        name, eq, value = item.partition("=")
        if not eq:
            raise InvalidInput(f"label {item!r} must be name=value")
        labels[name] = value
    return validate_labels(labels)
