"""API keys over HTTP (admin scope): make, list, show and revoke, as ``tsapi keys`` does."""

from __future__ import annotations

from pydantic import BaseModel, Field
from quart import Blueprint, Response, g, url_for
from quart_schema import document_response, validate_request

from api.contract import answers, links
from api.errors import ApiError
from api.extensions import store
from api.responses import json_response
from api.schemas import NoContent, Problem
from api.security.errors import KeyNotFound
from api.security.keys import MAX_RATE_LIMIT, NAME_PATTERN, ApiKey, KeyStore, NewKey, Scope
from core.fields import FilterList, SeriesKey, StrictModel, examples

__all__ = ["bp"]

bp = Blueprint("keys", __name__, url_prefix="/v1/keys")


class KeyCreate(StrictModel):
    """A new API key: what it is for, what it may do, and which series it may reach."""

    model_config = examples({"name": "grafana", "scopes": ["read"]})

    name: str = Field(
        pattern=f"^{NAME_PATTERN}$",
        description="What the key is for (1 to 100 printable characters)",
        examples=["grafana"],
    )
    scopes: list[Scope] = Field(
        min_length=1,
        description="read (GET), write (POST/PUT/PATCH/DELETE), admin (everything)",
        examples=[["read"]],
    )
    prefix: SeriesKey | None = Field(None, description="Only series whose key starts with this")
    filters: FilterList | None = Field(
        None, description="Only series whose labels match every filter (one must be positive)"
    )
    rate_limit: float | None = Field(
        None,
        gt=0,
        le=MAX_RATE_LIMIT,
        description="Requests per second for this key (instead of TSAPI_RATE_LIMIT)",
    )


class KeysOut(BaseModel):
    """Every key, oldest first (never a secret)."""

    keys: list[ApiKey]


def _keys() -> KeyStore:
    return KeyStore(store().client)


@bp.post("")
@links(
    201,
    GetKey=("get_key", {"key_id": "$response.body#/key/id"}),
    RevokeKey=("revoke_key", {"key_id": "$response.body#/key/id"}),
)
@validate_request(KeyCreate)
@document_response(NewKey, 201)
async def create_key(data: KeyCreate) -> Response:
    """Make a key; the answer holds its token, shown this once."""
    made = await _keys().create(
        data.name,
        [str(s) for s in data.scopes],
        prefix=data.prefix,
        filters=data.filters or (),
        rate_limit=data.rate_limit,
    )
    location = url_for("keys.get_key", key_id=made.key.id)
    return json_response(made.as_dict(), 201, headers={"Location": location})


@bp.get("")
@document_response(KeysOut)
async def list_keys() -> Response:
    """Every key: id, name, scopes, limits, rate limit, when made and last used."""
    return json_response({"keys": [k.as_dict() for k in await _keys().list()]})


@bp.get("/<key_id>")
@document_response(ApiKey)
@document_response(Problem, 404)
async def get_key(key_id: str) -> Response:
    """One key (never its secret)."""
    key = await _keys().get(key_id)
    if key is None:
        raise KeyNotFound(key_id)
    return json_response(key.as_dict())


@bp.delete("/<key_id>")
@answers(409)
@document_response(NoContent, 204)
@document_response(Problem, 404)
async def revoke_key(key_id: str) -> Response:
    """Revoke a key: requests with it are refused from now on, on every server. The key of
    the request itself cannot be revoked this way (409): that would lock its caller out."""
    caller = getattr(g, "api_key", None)
    if caller is not None and caller.id == key_id:
        raise ApiError(
            409,
            "key-in-use",
            "Key in use",
            "this request is made with that key: revoke it with another admin key, or with "
            "`tsapi keys revoke`",
        )
    if not await _keys().revoke(key_id):
        raise KeyNotFound(key_id)
    return Response(status=204)
