"""API keys: what a key may do, what its token looks like, and how it is kept in Redis.

A token reads ``tsapi_<id>_<secret>``: ``id`` is 12 hex digits, shown by ``tsapi keys list``
and used to find the key in one lookup; ``secret`` is 256 random bits (43 URL-safe base64
characters) shown once, when the key is made. Redis keeps only the secret's SHA-256.

Why a plain SHA-256 and not scrypt/bcrypt or an HMAC with a pepper: slow hashes protect
low-entropy passwords against guessing. A 256-bit random secret cannot be guessed however
fast the hash is, and a leaked hash cannot be reversed or matched against a precomputed
table (no two secrets collide), so a slow hash would only add latency to every request.
Hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from api.security.reach import Reach
from tsdb.connection import Client
from tsdb.errors import InvalidInput
from tsdb.faults import guarded
from tsdb.filters import parse_filters
from tsdb.keys import api_key_key, api_keys_index_key, validate_key

__all__ = [
    "ID_PATTERN",
    "MAX_RATE_LIMIT",
    "NAME_PATTERN",
    "ApiKey",
    "KeyStore",
    "NewKey",
    "Scope",
    "hash_secret",
    "parse_token",
]

TOKEN_PREFIX = "tsapi"
NAME_MAX_LENGTH = 100
MAX_RATE_LIMIT = 1_000_000.0
ID_PATTERN = r"[0-9a-f]{12}"
NAME_PATTERN = r"[^\x00-\x1f\x7f]{1,100}"
_ID = re.compile(ID_PATTERN)
_TOKEN = re.compile(r"tsapi_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[^\x00-\x1f\x7f]+")
_NO_HASH = "0" * 64

# Set last_used only on a key that still exists (a revoke may race with a request).
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last_used', ARGV[1])
end
return 0
"""


class Scope(StrEnum):
    """What a key may do: ``read`` (GET/HEAD), ``write`` (other methods), ``admin`` (all)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    """One API key as stored (never with its secret)."""

    id: str
    name: str
    scopes: frozenset[Scope]
    prefix: str | None = None
    filters: tuple[str, ...] = ()
    created_at: int = 0
    last_used: int | None = None
    rate_limit: float | None = None

    def allows(self, scope: Scope) -> bool:
        """True when this key holds ``scope`` (``admin`` holds every scope)."""
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @property
    def reach(self) -> Reach:
        """The series this key may see."""
        return Reach(self.prefix, self.filters)

    def as_dict(self) -> dict[str, Any]:
        """The key as JSON (``GET /v1/keys``, ``tsapi keys list --json``): its fields, with
        the scopes sorted."""
        return {
            "id": self.id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "prefix": self.prefix,
            "filters": list(self.filters),
            "created_at": self.created_at,
            "last_used": self.last_used,
            "rate_limit": self.rate_limit,
        }


@dataclass(frozen=True)
class NewKey:
    """A key just made, with the token that is shown this once."""

    key: ApiKey
    token: str = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The key and its token as JSON (``POST /v1/keys``)."""
        return {"key": self.key.as_dict(), "token": self.token}


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of a token's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    match = _TOKEN.fullmatch(token.strip())
    return (match[1], match[2]) if match else None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_new(
    name: str, scopes: Iterable[str], prefix: str | None, filters: Iterable[str]
) -> tuple[frozenset[Scope], str | None, tuple[str, ...]]:
    if not _NAME.fullmatch(name or "") or len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"a key name is 1 to {NAME_MAX_LENGTH} printable characters")
    try:
        checked = frozenset(Scope(s) for s in scopes)
    except ValueError:
        raise InvalidInput("scopes are read, write and admin") from None
    if not checked:
        raise InvalidInput("a key needs at least one scope (read, write or admin)")
    if prefix is not None:
        validate_key(prefix, "prefix")
    wanted = [f for f in filters if f.strip()]
    return checked, prefix or None, parse_filters(wanted) if wanted else ()


@guarded
class KeyStore:
    """API keys in Redis: ``tsapi:key:<id>`` hashes and the ``tsapi:keys`` index set.

    The index is written before a key and cleared after it, so it never misses a key that
    exists: a server that sees an empty index really has no keys.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._touch = client.register_script(_TOUCH)

    async def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        prefix: str | None = None,
        filters: Iterable[str] = (),
        rate_limit: float | None = None,
    ) -> NewKey:
        """Make a key; the token in the result is the only copy of its secret.

        ``rate_limit`` (requests per second) replaces ``TSAPI_RATE_LIMIT`` for this key.
        """
        checked, prefix, parsed = _check_new(name, scopes, prefix, filters)
        if rate_limit is not None and not (0 < rate_limit <= MAX_RATE_LIMIT):
            raise InvalidInput(f"a key's rate limit is above 0 and at most {MAX_RATE_LIMIT:g}")
        secret = secrets.token_urlsafe(32)
        while True:
            key_id = secrets.token_hex(6)
            if await self.client.sadd(api_keys_index_key(), key_id):
                break
        created = _now_ms()
        await self.client.hset(
            api_key_key(key_id),
            mapping={
                "name": name,
                "secret_sha256": hash_secret(secret),
                "scopes": ",".join(sorted(checked)),
                "prefix": prefix or "",
                "filters": json.dumps(list(parsed)),
                "created_at": created,
                "rate_limit": "" if rate_limit is None else repr(float(rate_limit)),
            },
        )
        key = ApiKey(
            key_id,
            name,
            checked,
            prefix,
            parsed,
            created,
            rate_limit=None if rate_limit is None else float(rate_limit),
        )
        return NewKey(key, f"{TOKEN_PREFIX}_{key_id}_{secret}")

    async def get(self, key_id: str) -> ApiKey | None:
        """The key with this id, or None."""
        if not _ID.fullmatch(key_id):
            return None
        record = await self.client.hgetall(api_key_key(key_id))
        return _from_record(key_id, record) if record else None

    async def verify(self, token: str) -> ApiKey | None:
        """The key this token belongs to, or None (malformed, unknown, revoked or wrong)."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        record = await self.client.hgetall(api_key_key(key_id))
        stored = _text(record.get("secret_sha256", "")) if record else ""
        # compared even when the key is unknown, so both cost the same
        matches = hmac.compare_digest(stored or _NO_HASH, hash_secret(secret))
        if not (stored and matches):
            return None
        return _from_record(key_id, record)

    async def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        ids = sorted(_text(i) for i in await self.client.smembers(api_keys_index_key()))
        found = [await self.get(i) for i in ids]
        return sorted((k for k in found if k is not None), key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str) -> bool:
        """Delete a key at once; False if there was none with this id."""
        if not _ID.fullmatch(key_id):
            return False
        deleted = await self.client.delete(api_key_key(key_id))
        removed = await self.client.srem(api_keys_index_key(), key_id)
        return bool(deleted or removed)

    async def count(self) -> int:
        """How many keys exist."""
        return int(await self.client.scard(api_keys_index_key()))

    async def touch(self, key_id: str, when_ms: int | None = None) -> None:
        """Record that the key was just used."""
        await self._touch(keys=[api_key_key(key_id)], args=[when_ms or _now_ms()])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_record(key_id: str, raw: dict[Any, Any]) -> ApiKey:
    record = {_text(k): _text(v) for k, v in raw.items()}
    last_used = record.get("last_used")
    rate = record.get("rate_limit")
    return ApiKey(
        id=key_id,
        name=record.get("name", ""),
        scopes=frozenset(Scope(s) for s in record.get("scopes", "").split(",") if s),
        prefix=record.get("prefix") or None,
        filters=tuple(json.loads(record.get("filters") or "[]")),
        created_at=int(record.get("created_at") or 0),
        last_used=int(last_used) if last_used else None,
        rate_limit=float(rate) if rate else None,
    )
