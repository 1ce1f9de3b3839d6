"""Rollup tiers: per series (``/v1/series/{key}/rollups``) and by label-filter policy
(``/v1/rollups``). Setting tiers on series that hold data queues a ``backfill`` job."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field, model_validator
from quart import Blueprint, Response
from quart_schema import document_response, validate_request

from api.contract import links, path_types
from api.extensions import jobs, store
from api.responses import json_response
from api.schemas import NoContent, Problem, StrictModel
from core.fields import DurationIn, FilterList, RetentionIn, SeriesKey, checked_by, examples
from tsdb.rollups.manage import (
    Applied,
    describe,
    put_policies,
    put_tiers,
    reapply_policies,
    remove_tiers,
)
from tsdb.rollups.models import MAX_TIERS, Policy, Tier, check_tiers
from tsdb.rollups.policies import NAME, load_policies
from tsdb.timefmt import parse_duration
from workers import registry

__all__ = ["bp", "labels_changed"]

bp = Blueprint("rollups", __name__, url_prefix="/v1")

_TIERS = Field(
    min_length=1,
    max_length=MAX_TIERS,
    description=(
        f"1 to {MAX_TIERS} tiers, each with its own bucket; a tier serves reads whose bucket "
        "is a multiple of its own"
    ),
)


# -- models -----------------------------------------------------------------------------------


class TierIn(StrictModel):
    """One tier: buckets of ``bucket``, kept ``retention``."""

    bucket: DurationIn = Field(description="Bucket width: 1m, 1h, 1d (or milliseconds)")
    retention: RetentionIn | None = Field(
        None,
        description="How long the tier keeps its buckets (90d, 104w...), at least one bucket; "
        "0 or absent: forever",
    )

    def tier(self) -> Tier:
        retention = 0
        if self.retention not in (None, 0, "0"):
            assert self.retention is not None
            retention = parse_duration(self.retention, "retention")
        return Tier(parse_duration(self.bucket, "bucket"), retention)


def _checked(tiers: list[TierIn]) -> None:
    """The rules of a set of tiers JSON Schema cannot state (distinct buckets, retention of
    at least one bucket), as a validation error."""
    checked_by(check_tiers)([t.tier() for t in tiers])


class RollupsIn(StrictModel):
    """The tiers a series should have (replacing the ones it has; unchanged tiers keep their
    data)."""

    tiers: list[TierIn] = _TIERS
    model_config = examples(
        {"tiers": [{"bucket": "1m", "retention": "90d"}, {"bucket": "1h", "retention": "730d"}]}
    )

    @model_validator(mode="after")
    def _tiers_fit(self) -> RollupsIn:
        _checked(self.tiers)
        return self


class TierSpecOut(BaseModel):
    """A tier as configured."""

    bucket: str = Field(description="The tier's name: its bucket width (1m, 1h, 1d)")
    bucket_ms: int = Field(description="Bucket width in milliseconds")
    retention_ms: int = Field(description="How long buckets are kept; 0: forever")


class CoversOut(BaseModel):
    """Raw time a tier answers for (inclusive)."""

    from_: int = Field(alias="from", description="Start of the first kept bucket (epoch ms)")
    to: int = Field(description="End of the last filled bucket (epoch ms)")


class TierOut(TierSpecOut):
    """A tier of a series and how far it is filled."""

    covers: CoversOut | None = Field(
        description="What the tier answers for; null until its backfill fills something"
    )
    filled_to: int | None = Field(
        description="Buckets before this time are filled (the newest, still open bucket is not)"
    )
    buckets: int = Field(description="Buckets the tier holds")
    memory_bytes: int = Field(description="Memory of the tier's series")
    series: list[str] = Field(description="Keys of the tier's series (one per part)")


class RawOut(BaseModel):
    samples: int = Field(description="Raw samples of the series")
    memory_bytes: int = Field(description="Memory of the raw series")


class RollupsOut(BaseModel):
    """A series' rollup tiers."""

    key: str
    origin: str | None = Field(
        description="'series' (set on the series) or 'policy:<name>'; null without tiers"
    )
    pending: bool = Field(description="True while a backfill is still filling the tiers")
    raw: RawOut
    tiers: list[TierOut]
    backfill_job: str | None = Field(
        None, description="After PUT: the id of the job filling the tiers from the history"
    )


class PolicyIn(StrictModel):
    """Tiers for every series a label filter selects, including series created later."""

    name: str = Field(
        pattern=f"^{NAME.pattern}$",
        description="1 to 64 letters, digits or '_.:-'; where policies overlap, the first by "
        "name wins",
    )
    filter: FilterList
    tiers: list[TierIn] = _TIERS

    @model_validator(mode="after")
    def _tiers_fit(self) -> PolicyIn:
        _checked(self.tiers)
        return self


class PoliciesIn(StrictModel):
    """Every policy (replacing the ones there are)."""

    policies: list[PolicyIn] = Field(max_length=100, description="Distinct names")
    model_config = examples(
        {"policies": [{"name": "temps", "filter": ["kind=temp"], "tiers": [{"bucket": "1h"}]}]}
    )

    @model_validator(mode="after")
    def _distinct(self) -> PoliciesIn:
        names = [p.name for p in self.policies]
        if len(set(names)) != len(names):
            raise ValueError("two policies have the same name")
        return self


class PolicyOut(BaseModel):
    name: str
    filter: list[str]
    tiers: list[TierSpecOut]


class PoliciesOut(BaseModel):
    """The rollup policies."""

    policies: list[PolicyOut]


class AppliedOut(BaseModel):
    updated: list[str] = Field(description="Series given (new) tiers by a policy")
    removed: list[str] = Field(description="Series whose policy tiers were removed")


class PoliciesApplied(PoliciesOut):
    """The policies as stored, and what applying them changed."""

    applied: AppliedOut
    backfill_job: str | None = Field(
        None, description="The id of the job filling new tiers from the history, if any"
    )


# -- series' tiers ------------------------------------------------------------------------------


@bp.get("/series/<key>/rollups")
@path_types(key=SeriesKey)
@document_response(RollupsOut)
@document_response(Problem, 404)
async def get_rollups(key: str) -> Response:
    """A series' rollup tiers: what each covers, its size, and whether a backfill runs."""
    return json_response(await describe(store(), key))


@bp.put("/series/<key>/rollups")
@path_types(key=SeriesKey)
@links(
    200,
    GetRollups=("get_rollups", {"key": "$request.path.key"}),
    DeleteRollups=("delete_rollups", {"key": "$request.path.key"}),
)
@validate_request(RollupsIn)
@document_response(RollupsOut)
@document_response(Problem, 404)
@document_response(Problem, 422)
async def put_rollups(key: str, data: RollupsIn) -> Response:
    """Give a series rollup tiers (they replace its tiers, and any policy's); a backfill job
    fills them from the history it holds."""
    needs_backfill = await put_tiers(store(), key, [t.tier() for t in data.tiers])
    job = await _backfill([key]) if needs_backfill else None
    return json_response({**await describe(store(), key), "backfill_job": job})


@bp.delete("/series/<key>/rollups")
@path_types(key=SeriesKey)
@document_response(NoContent, 204)
@document_response(Problem, 404)
async def delete_rollups(key: str) -> Response:
    """Remove a series' rollup tiers (their data goes; reads use raw samples)."""
    await remove_tiers(store(), key)
    return Response(status=204)


# -- policies -----------------------------------------------------------------------------------


def _policy(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "filter": list(policy.filters),
        "tiers": [t.as_dict() for t in policy.tiers],
    }


@bp.get("/rollups")
@document_response(PoliciesOut)
async def get_policies() -> Response:
    """The rollup policies: tiers by label filter."""
    return json_response({"policies": [_policy(p) for p in await load_policies(store().client)]})


@bp.put("/rollups")
@validate_request(PoliciesIn)
@document_response(PoliciesApplied)
@document_response(Problem, 422)
async def put_rollup_policies(data: PoliciesIn) -> Response:
    """Replace the rollup policies and apply them: series they select get their tiers (a
    backfill job fills them), series whose policy tiers no policy selects lose them."""
    policies = [
        Policy(p.name, tuple(p.filter), tuple(t.tier() for t in p.tiers)) for p in data.policies
    ]
    applied = await put_policies(store(), policies)
    return json_response(await _applied(applied))


@bp.delete("/rollups")
@document_response(NoContent, 204)
async def delete_rollup_policies() -> Response:
    """Remove every policy, and the tiers policies gave (tiers set on a series stay)."""
    await put_policies(store(), [])
    return Response(status=204)


async def _applied(applied: Applied) -> dict[str, Any]:
    job = await _backfill(applied.backfill) if applied.backfill else None
    stored = await load_policies(store().client)
    return {
        "policies": [_policy(p) for p in stored],
        "applied": {"updated": applied.updated, "removed": applied.removed},
        "backfill_job": job,
    }


# -- helpers ------------------------------------------------------------------------------------


async def labels_changed(key: str) -> None:
    """A series' labels changed: give it (or take away) the tiers of the policies."""
    applied = await reapply_policies(store(), keys=[key])
    if applied.backfill:
        await _backfill(applied.backfill)


async def _backfill(keys: list[str]) -> str:
    """Queue a backfill job for ``keys``; its id."""
    kind = registry.get("backfill")
    params = await kind.prepare(kind.validate({"keys": keys}), store())
    payload = params.model_dump(mode="json", by_alias=True)
    document = await asyncio.to_thread(jobs().submit, kind.name, payload)
    return document.id
