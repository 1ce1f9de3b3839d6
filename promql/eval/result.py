"""A query's result as plain data: what the API serializes (see :mod:`promql.format`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from promql.model import Labels

__all__ = ["QueryResult", "ResultType"]

ResultType = Literal["matrix", "vector", "scalar", "string"]


@dataclass
class QueryResult:
    """One of four shapes, by ``result_type``:

    - ``scalar``: ``scalar = (t_ms, value)``
    - ``string``: ``string = (t_ms, text)``
    - ``vector``: ``vector = [(labels, t_ms, value), ...]`` in Prometheus' order
    - ``matrix``: ``matrix = [(labels, t_ms int64 array, values float64 array), ...]``;
      sorted by labels for range queries.
    """

    result_type: ResultType
    scalar: tuple[int, float] = (0, 0.0)
    string: tuple[int, str] = (0, "")
    vector: list[tuple[Labels, int, float]] = field(default_factory=list)
    matrix: list[tuple[Labels, np.ndarray, np.ndarray]] = field(default_factory=list)
