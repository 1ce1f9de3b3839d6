"""Liveness, readiness and a plain-text route list."""

from __future__ import annotations

from quart import Blueprint, Response, current_app
from quart_schema import document_response, hide

from api.errors import problem
from api.extensions import store
from api.responses import json_response
from api.schemas import HealthOut, Problem, ReadyOut
from tsdb.connection import check_module
from tsdb.errors import StoreUnavailable

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@document_response(HealthOut)
async def healthz() -> Response:
    """The process is up (it does not look at Redis)."""
    return json_response({"status": "ok"})


@bp.get("/readyz")
@document_response(ReadyOut)
@document_response(Problem, 503)
async def readyz() -> Response:
    """Redis is reachable and has the TimeSeries module; 503 otherwise."""
    try:
        version = await check_module(store().client)
    except StoreUnavailable as exc:
        return problem(
            503, "store-unavailable", "Not ready", str(exc), headers={"Retry-After": "1"}
        )
    return json_response({"status": "ready", "timeseries_version": version})


@bp.get("/help")
@hide
async def help_text() -> Response:
    """Every route with a one-line description, as plain text."""
    lines = ["tsapi routes (JSON unless noted; OpenAPI at /openapi.json, docs at /docs)", ""]
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint == "static":
            continue
        view = current_app.view_functions[rule.endpoint]
        doc = (view.__doc__ or "").strip().splitlines()
        methods = ",".join(sorted(m for m in rule.methods or () if m not in ("HEAD", "OPTIONS")))
        lines.append(f"{methods:<18} {rule.rule:<42} {doc[0] if doc else ''}")
    return Response("\n".join(lines) + "\n", mimetype="text/plain")
