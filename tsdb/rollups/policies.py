"""Rollup policies: tiers for every series a label filter selects, now and later.

Policies live in one hash (:func:`~tsdb.keys.rollup_policies_key`). A series created later
gets the tiers of the first policy (by name) whose filter its labels match, checked here in
Python with the module's filter semantics (:func:`matches`), so that creating a series costs
no index query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import orjson

from tsdb.connection import Client
from tsdb.errors import InvalidInput
from tsdb.faults import translate
from tsdb.filters import parse_filters
from tsdb.keys import rollup_policies_key
from tsdb.rollups.models import Policy, Tier, check_tiers

__all__ = ["check_policy", "load_policies", "matches", "policy_for", "save_policies"]

NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_FILTER = re.compile(r"(?P<label>[^=!]+)(?P<op>!?=)(?P<value>.*)", re.DOTALL)
MAX_POLICIES = 100


def matches(filters: Iterable[str], labels: Mapping[str, str]) -> bool:
    """Whether a series with ``labels`` is selected by ``filters`` (TS.QUERYINDEX's rules:
    ``l=v``, ``l!=v`` (true without ``l``), ``l=`` (no ``l``), ``l!=`` (has ``l``),
    ``l=(a,b)``, ``l!=(a,b)``; every filter must hold)."""
    for text in filters:
        match = _FILTER.fullmatch(text)
        if match is None:
            return False
        negate = match["op"] == "!="
        have, value = labels.get(match["label"]), match["value"]
        if value == "":
            ok = have is not None if negate else have is None
        else:
            listed = value.startswith("(") and value.endswith(")")
            wanted = value[1:-1].split(",") if listed else [value]
            ok = (have not in wanted) if negate else (have in wanted)
        if not ok:
            return False
    return True


def policy_for(policies: Sequence[Policy], labels: Mapping[str, str]) -> Policy | None:
    """The first policy (by name) whose filter selects a series with ``labels``."""
    for policy in sorted(policies, key=lambda p: p.name):
        if matches(policy.filters, labels):
            return policy
    return None


def check_policy(policy: Policy) -> Policy:
    """The policy with its filter and tiers checked; :class:`InvalidInput` otherwise."""
    if not NAME.fullmatch(policy.name):
        raise InvalidInput(f"policy name {policy.name!r} must be 1 to 64 letters, digits or '_.:-'")
    return Policy(policy.name, parse_filters(policy.filters), check_tiers(policy.tiers))


async def load_policies(client: Client) -> list[Policy]:
    """Every policy, by name."""
    with translate():
        raw = await client.hgetall(rollup_policies_key())
    policies = []
    for name, body in raw.items():
        data = orjson.loads(body)
        tiers = tuple(Tier(int(b), int(r)) for b, r in data["tiers"])
        policies.append(Policy(str(name), tuple(data["filter"]), tiers))
    return sorted(policies, key=lambda p: p.name)


async def save_policies(client: Client, policies: Sequence[Policy]) -> list[Policy]:
    """Replace every policy with ``policies`` (checked first); return them as stored."""
    checked = [check_policy(p) for p in policies]
    if len(checked) > MAX_POLICIES:
        raise InvalidInput(f"at most {MAX_POLICIES} policies")
    names = [p.name for p in checked]
    if len(set(names)) != len(names):
        raise InvalidInput("two policies have the same name")
    with translate():
        pipe = client.pipeline(transaction=True)
        pipe.delete(rollup_policies_key())
        if checked:
            pipe.hset(
                rollup_policies_key(),
                mapping={
                    p.name: orjson.dumps(
                        {
                            "filter": list(p.filters),
                            "tiers": [[t.bucket_ms, t.retention_ms] for t in p.tiers],
                        }
                    )
                    for p in checked
                },
            )
        await pipe.execute()
    return sorted(checked, key=lambda p: p.name)
