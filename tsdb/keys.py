"""Key names: what a series key may look like, and the prefixes tsapi keeps for itself.

Series live under their own names in database 0 so that redis-cli and other
RedisTimeSeries clients see the same keys. Braces are allowed for Redis Cluster hash tags:
``temp:{austin}`` and ``temp:{austin}:1h`` share a hash slot, which a compaction rule
between them needs on a cluster. Everything else tsapi stores (jobs,
artifacts, settings) sits under :data:`PREFIX`, and RQ keeps its own ``rq:`` keys;
series keys may not start with either.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tsdb.errors import InvalidInput

__all__ = [
    "INDEX_PREFIX",
    "KEY_MAX_LENGTH",
    "KEY_PATTERN",
    "LABEL_PATTERN",
    "PREFIX",
    "RESERVED_LABEL_PREFIX",
    "RESERVED_PREFIXES",
    "api_key_key",
    "api_keys_index_key",
    "artifact_index_key",
    "artifact_key",
    "config_key",
    "index_prefix",
    "is_tsapi_series",
    "job_cancel_key",
    "job_dependents_key",
    "jobs_index_key",
    "rate_limit_key",
    "rollup_policies_key",
    "rollup_state_key",
    "rollup_tier_key",
    "rollups_index_key",
    "schedule_claim_key",
    "schedules_due_key",
    "schedules_key",
    "special_key",
    "specials_registry_key",
    "validate_key",
    "validate_labels",
]

PREFIX = "tsapi:"
RESERVED_PREFIXES = (PREFIX, "rq:")
KEY_MAX_LENGTH = 256
KEY_PATTERN = re.compile(r"[A-Za-z0-9:._{}-]+")  # braces: Redis Cluster hash tags
LABEL_MAX_LENGTH = 128
LABEL_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
# Label values travel as separate arguments, but filters are parsed by the module:
# keep out the characters its filter grammar gives meaning to, and control characters.
LABEL_VALUE_PATTERN = re.compile(r"[^\x00-\x1f\x7f=!(),\"']*")
LABEL_VALUE_MAX_LENGTH = 1024
RESERVED_LABEL_PREFIX = "tsapi_"
"""Labels tsapi puts on its own series (rollup tiers); a user's series may not carry them."""


def validate_key(key: str, field: str = "key") -> str:
    """Return ``key`` if it is a valid series key, else raise :class:`InvalidInput`."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{field} must be a non-empty string")
    if len(key) > KEY_MAX_LENGTH:
        raise InvalidInput(f"{field} is longer than {KEY_MAX_LENGTH} characters")
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            f"{field} {key!r} may only hold letters, digits and the characters ':._-{{}}'"
        )
    if key in (".", ".."):
        raise InvalidInput(f"{field} may not be '.' or '..' (they cannot be used in a URL path)")
    if key.startswith(RESERVED_PREFIXES):
        raise InvalidInput(
            f"{field} {key!r} uses a reserved prefix ({', '.join(RESERVED_PREFIXES)})"
        )
    return key


def validate_labels(labels: dict[str, str]) -> dict[str, str]:
    """Check label names and values; return them as a new dict of strings."""
    checked: dict[str, str] = {}
    for name, value in labels.items():
        if not isinstance(name, str) or not _valid_name(name):
            raise InvalidInput(
                f"label name {name!r} must start with a letter or '_' and hold only letters, "
                "digits and '_.:-' (at most 128 characters)"
            )
        if name.startswith(RESERVED_LABEL_PREFIX):
            raise InvalidInput(
                f"label name {name!r} uses the prefix {RESERVED_LABEL_PREFIX!r}, which tsapi "
                "keeps for its own series"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidInput(f"label {name!r} must have a string value")
        text = str(value)
        if not _valid_value(text):
            raise InvalidInput(
                f"label {name!r} has an invalid value: it must be 1 to {LABEL_VALUE_MAX_LENGTH} "
                "characters without quotes, '=', '!', '(', ')', ',' or control characters"
            )
        checked[name] = text
    return checked


@lru_cache(maxsize=4096)
def _valid_name(name: str) -> bool:
    return len(name) <= LABEL_MAX_LENGTH and LABEL_PATTERN.fullmatch(name) is not None


@lru_cache(maxsize=65536)
def _valid_value(text: str) -> bool:
    """(Cached: a bulk write of many series repeats the same few values.)"""
    return (
        0 < len(text) <= LABEL_VALUE_MAX_LENGTH and LABEL_VALUE_PATTERN.fullmatch(text) is not None
    )


def artifact_key(job_id: str, name: str) -> str:
    """Key of one file a job produced."""
    return f"{PREFIX}artifact:{job_id}:{name}"


def artifact_index_key(job_id: str) -> str:
    """Key of the hash listing a job's files (name -> JSON with content type and size)."""
    return f"{PREFIX}artifacts:{job_id}"


def schedules_key() -> str:
    """Key of the hash of recurring job schedules (id -> JSON)."""
    return f"{PREFIX}schedules"


def schedules_due_key() -> str:
    """Key of the sorted set of schedule ids by their next run (epoch ms)."""
    return f"{PREFIX}schedules:due"


def schedule_claim_key(schedule_id: str, due: int) -> str:
    """Key that one worker sets to claim one run of a schedule."""
    return f"{PREFIX}schedule-claim:{schedule_id}:{due}"


def job_cancel_key(job_id: str) -> str:
    """Key whose existence asks a job to stop (kept apart from the job's meta, which the
    running job rewrites)."""
    return f"{PREFIX}job-cancel:{job_id}"


def job_dependents_key(job_id: str) -> str:
    """Key of the set of jobs waiting for this one (RQ forgets them once they are queued)."""
    return f"{PREFIX}job-dependents:{job_id}"


def jobs_index_key() -> str:
    """Key of the sorted set of job ids by submission time (microseconds)."""
    return f"{PREFIX}jobs"


def config_key() -> str:
    """Key of the hash that holds settings shared by every process."""
    return f"{PREFIX}config"


def api_key_key(key_id: str) -> str:
    """Key of the hash describing one API key (its secret kept only as a SHA-256 hash)."""
    return f"{PREFIX}key:{key_id}"


def api_keys_index_key() -> str:
    """Key of the set of every API key id."""
    return f"{PREFIX}keys"


def rate_limit_key(identity: str) -> str:
    """Key of the token bucket of one API key id or client address."""
    return f"{PREFIX}ratelimit:{identity}"


# -- rollup tiers (tsdb/rollups) ----------------------------------------------------------------
# A series' tier series and its tier state share the series' hash slot, so that one Redis
# function call can update them together on a cluster: a key with a hash tag keeps it
# (``t:temp:{austin}``), any other key becomes the tag (``{temp:austin}``). The two forms
# cannot meet, so no two series share these keys.


def _slot_form(key: str) -> str:
    start = key.find("{")
    if start >= 0 and key.find("}", start + 1) > start + 1:
        return f"t:{key}"
    return f"{{{key}}}"


def rollup_state_key(key: str) -> str:
    """Key of the hash holding the tiers of series ``key`` and how far each is filled."""
    return f"{PREFIX}rollup:{_slot_form(key)}"


def rollup_tier_key(key: str, bucket: str, part: str) -> str:
    """Key of the series holding one part (sum, count, ...) of one tier of series ``key``."""
    return f"{rollup_state_key(key)}:{bucket}:{part}"


def rollups_index_key() -> str:
    """Key of the hash of every series that has tiers (key -> its tiers, JSON)."""
    return f"{PREFIX}rollups"


def rollup_policies_key() -> str:
    """Key of the hash of rollup policies (name -> label filter and tiers, JSON)."""
    return f"{PREFIX}rollup-policies"


def is_tsapi_series(key: str) -> bool:
    """True for a series tsapi keeps for itself (the parts of rollup tiers): kept out of
    listings (users cannot make such keys: their prefix is reserved)."""
    return key.startswith(RESERVED_PREFIXES)


def special_key(key: str) -> str:
    """Key of the sorted set holding a series' NaN/±Inf/staleness codes (tsdb/specials.py),
    in the series' hash slot."""
    return f"{PREFIX}special:{_slot_form(key)}"  # in the series' slot


def specials_registry_key() -> str:
    """Key of the set of series keys that have a companion of special values."""
    return f"{PREFIX}specials"


INDEX_PREFIX = f"{PREFIX}index:"
"""Where the series index lives (tsdb/index.py). Under a prefix ``P`` (:func:`index_prefix`):
``P + "series"`` (sorted set of series keys), ``P + "names"`` (hash label name -> series
count), ``P + "values:" + name`` (hash value -> series count), ``P + "meta"`` (hash: state,
version, slots) and ``P + "lock"`` (held while it is rebuilt). tsdb/functions.lua spells
the same suffixes."""


def index_prefix(tag: str | None = None) -> str:
    """The prefix of the series index: one per Redis, or per cluster node with ``tag`` (a
    hash tag of a slot of that node, so that the index sits beside the node's series)."""
    return INDEX_PREFIX if tag is None else f"{INDEX_PREFIX}{{{tag}}}:"
