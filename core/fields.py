"""Field types shared by request models (``api``) and job parameters (``workers``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["DurationIn", "StrList", "StrictModel", "TimeIn"]


def _as_list(value: Any) -> Any:
    """A query parameter given once arrives as a string: make it a one-item list."""
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]
TimeIn = Annotated[
    int | str,
    Field(description="Epoch ms, ISO-8601 (2024-01-31T12:00:00Z) or relative (now, -15m, -1h)"),
]
DurationIn = Annotated[int | str, Field(description="Milliseconds or 30s, 5m, 1h, 1d, 1w")]


class StrictModel(BaseModel):
    """A model that refuses unknown fields and accepts fields by name or alias."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
