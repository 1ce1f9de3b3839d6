"""The engine's own expression tree, converted from the parser's (see :mod:`promql.parse`).

Durations and times are integer milliseconds; parentheses are gone (Prometheus' evaluator
unwraps them everywhere it looks at argument shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from promql.model import Matcher

__all__ = [
    "AT_END",
    "AT_START",
    "Aggregate",
    "At",
    "Binary",
    "Call",
    "Cardinality",
    "Expr",
    "MatrixSelector",
    "NumberLiteral",
    "StringLiteral",
    "Subquery",
    "Unary",
    "VectorSelector",
]

AT_START: Literal["start"] = "start"
AT_END: Literal["end"] = "end"
At = int | Literal["start", "end"] | None
Cardinality = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]
"""An ``@`` modifier: a time in ms, ``start()``/``end()`` of the query, or none."""


@dataclass(eq=False)
class NumberLiteral:
    value: float


@dataclass(eq=False)
class StringLiteral:
    value: str


@dataclass(eq=False)
class VectorSelector:
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: At = None


@dataclass(eq=False)
class MatrixSelector:
    selector: VectorSelector
    range_ms: int


@dataclass(eq=False)
class Subquery:
    expr: Expr
    range_ms: int
    step_ms: int | None
    offset_ms: int = 0
    at: At = None


@dataclass(eq=False)
class Call:
    name: str
    args: list[Expr] = field(default_factory=list)


@dataclass(eq=False)
class Aggregate:
    op: str
    expr: Expr
    param: Expr | None
    grouping: tuple[str, ...]
    without: bool


@dataclass(eq=False)
class Binary:
    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    card: Cardinality = "one-to-one"
    on: bool = False
    matching: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(eq=False)
class Unary:
    expr: Expr


Expr = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | Subquery
    | Call
    | Aggregate
    | Binary
    | Unary
)
