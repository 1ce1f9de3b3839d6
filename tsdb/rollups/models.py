"""What rollup tiers are: a bucket width and a retention, the parts each tier keeps, and the
policies that give tiers to every series a label filter selects."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tsdb.errors import InvalidInput

__all__ = [
    "MAX_TIERS",
    "PARTS",
    "Part",
    "Policy",
    "Rollups",
    "Tier",
    "TierChoice",
    "check_tiers",
    "duration_text",
    "tier_name",
]

MAX_TIERS = 8


class TierChoice(StrEnum):
    """Which data answers an aggregated read: the best tiers that can (``auto``), or raw
    samples only (``raw``)."""

    AUTO = "auto"
    RAW = "raw"


class Part(StrEnum):
    """What a tier keeps per bucket, each in a series of its own (named after the module's
    aggregator that computes it from raw samples)."""

    SUM = "sum"
    COUNT = "count"
    MIN = "min"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    VAR = "var.p"


PARTS: tuple[Part, ...] = tuple(Part)
"""Every part, in the order the Redis functions use (``tsdb/rollups/rollups.lua``)."""

_UNITS = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))


def duration_text(ms: int) -> str:
    """A duration in the largest unit that divides it: ``3600000`` is ``1h``, ``90000`` is
    ``90s``, ``1500`` is ``1500ms``."""
    for unit, size in _UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def tier_name(bucket_ms: int) -> str:
    """How answers and keys name a tier: its bucket width (``1m``, ``1h``, ``1d``)."""
    return duration_text(bucket_ms)


@dataclass(frozen=True, order=True)
class Tier:
    """One tier: buckets of ``bucket_ms``, kept ``retention_ms`` (0: forever)."""

    bucket_ms: int
    retention_ms: int = 0

    @property
    def name(self) -> str:
        return tier_name(self.bucket_ms)

    def as_dict(self) -> dict[str, int | str]:
        return {"bucket": self.name, "bucket_ms": self.bucket_ms, "retention_ms": self.retention_ms}


def check_tiers(tiers: list[Tier] | tuple[Tier, ...]) -> tuple[Tier, ...]:
    """The tiers sorted by bucket, after checking them; :class:`InvalidInput` otherwise."""
    if len(tiers) > MAX_TIERS:
        raise InvalidInput(f"at most {MAX_TIERS} tiers per series")
    ordered = tuple(sorted(tiers))
    for tier in ordered:
        if tier.bucket_ms <= 0:
            raise InvalidInput("a tier's bucket must be greater than zero")
        if tier.retention_ms < 0:
            raise InvalidInput("a tier's retention must be zero (forever) or positive")
        if 0 < tier.retention_ms < tier.bucket_ms:
            raise InvalidInput(
                f"tier {tier.name} would keep less than one bucket: its retention must be at "
                "least its bucket (or 0, forever)"
            )
        if tier.bucket_ms >= 2**53:
            raise InvalidInput("a tier's bucket must be shorter than 2^53 ms")
    names = [t.bucket_ms for t in ordered]
    if len(set(names)) != len(names):
        raise InvalidInput("two tiers have the same bucket")
    return ordered


@dataclass(frozen=True)
class Rollups:
    """The tiers of one series, and where they come from: ``series`` (set on the series
    itself) or ``policy:<name>``."""

    tiers: tuple[Tier, ...]
    origin: str = "series"

    @property
    def policy(self) -> str | None:
        """The name of the policy that made these tiers, if one did."""
        return self.origin.removeprefix("policy:") if self.origin.startswith("policy:") else None


@dataclass(frozen=True)
class Policy:
    """Tiers for every series ``filters`` select, including series created later."""

    name: str
    filters: tuple[str, ...]
    tiers: tuple[Tier, ...]
