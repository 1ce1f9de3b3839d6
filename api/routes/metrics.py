"""Prometheus figures of this API process and of the job system."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response
from quart_schema import hide

from api.extensions import jobs
from api.metrics import CONTENT_TYPE_LATEST, metrics

__all__ = ["bp"]

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@hide
async def prometheus() -> Response:
    """Request, job and queue figures in Prometheus' text format."""
    figures = metrics()
    await asyncio.to_thread(figures.read_jobs, jobs())
    return Response(figures.render(), content_type=CONTENT_TYPE_LATEST)
