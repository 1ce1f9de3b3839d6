"""Parsing with ``promql-parser`` (GreptimeTeam's Rust parser) into :mod:`promql.ast`.

Parse and type errors become :class:`~promql.errors.ParseError` (``bad_data``); valid PromQL
this engine does not evaluate becomes :class:`~promql.errors.Unsupported` naming the
construct, raised here, before any data is read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import promql_parser as pp

from promql import ast
from promql.errors import ParseError, Unsupported
from promql.model import Matcher, compile_regex

__all__ = [
    "PROMETHEUS_FUNCTIONS",
    "SUPPORTED_AGGREGATIONS",
    "SUPPORTED_BINARY_OPS",
    "SUPPORTED_FUNCTIONS",
    "parse",
]

SUPPORTED_FUNCTIONS = frozenset(
    {
        "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear",
        "resets", "changes",
        "avg_over_time", "sum_over_time", "min_over_time", "max_over_time",
        "count_over_time", "last_over_time", "stddev_over_time", "stdvar_over_time",
        "quantile_over_time", "present_over_time", "absent_over_time",
        "abs", "ceil", "floor", "round", "exp", "ln", "log2", "log10", "sqrt",
        "clamp", "clamp_min", "clamp_max", "timestamp", "time", "vector", "scalar",
        "label_replace", "label_join", "sort", "sort_desc", "absent", "histogram_quantile",
    }
)  # fmt: skip
SUPPORTED_AGGREGATIONS = frozenset(
    {
        "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk",
        "quantile", "count_values", "group",
    }
)  # fmt: skip
SUPPORTED_BINARY_OPS = frozenset(
    {"+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"}
)

_CARD: tuple[tuple[Any, ast.Cardinality], ...] = (
    (pp.VectorMatchCardinality.OneToOne, "one-to-one"),
    (pp.VectorMatchCardinality.ManyToOne, "many-to-one"),
    (pp.VectorMatchCardinality.OneToMany, "one-to-many"),
    (pp.VectorMatchCardinality.ManyToMany, "many-to-many"),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNKNOWN_FUNCTION = re.compile(r"unknown function with name '([A-Za-z_0-9]+)'")

PROMETHEUS_FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan",
        "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
        "cos", "cosh", "count_over_time", "days_in_month", "day_of_month", "day_of_week",
        "day_of_year", "deg", "delta", "deriv", "exp", "floor", "histogram_count",
        "histogram_fraction", "histogram_quantile", "histogram_sum", "holt_winters", "hour",
        "idelta", "increase", "irate", "label_replace", "label_join", "last_over_time", "ln",
        "log10", "log2", "max_over_time", "min_over_time", "minute", "month", "pi",
        "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate",
        "resets", "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt",
        "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
        "timestamp", "vector", "year",
    }
)  # fmt: skip
"""Every function of Prometheus 2.42: the ones outside SUPPORTED_FUNCTIONS are Unsupported
even where the parser does not know them (holt_winters)."""


def _ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _at(modifier: Any) -> ast.At:
    if modifier is None:
        return None
    kind = modifier.type
    if kind == pp.AtModifierType.Start:
        return ast.AT_START
    if kind == pp.AtModifierType.End:
        return ast.AT_END
    try:
        moment = modifier.at
    except (ValueError, OverflowError) as exc:
        raise ParseError(f"invalid @ modifier: {exc}") from None
    return _ms(moment - _EPOCH)


def _matchers(node: Any) -> tuple[Matcher, ...]:
    group = node.matchers
    if group.or_matchers:
        raise Unsupported("selectors with 'or' between matchers are not supported")
    out = []
    if node.name is not None:
        out.append(Matcher("__name__", "=", node.name))
    ops = (
        (pp.MatchOp.Equal, "="),
        (pp.MatchOp.NotEqual, "!="),
        (pp.MatchOp.Re, "=~"),
        (pp.MatchOp.NotRe, "!~"),
    )
    for m in group.matchers:
        op = next(text for kind, text in ops if m.op == kind)
        if op in ("=~", "!~"):
            try:
                compile_regex(m.value)
            except re.error as exc:
                raise Unsupported(
                    f"regular expression {m.value!r} is not supported here: {exc}"
                ) from None
        out.append(Matcher(m.name, op, m.value))  # type: ignore[arg-type]
    return tuple(out)


def _selector(node: Any) -> ast.VectorSelector:
    return ast.VectorSelector(_matchers(node), _ms(node.offset), _at(node.at))


def _convert(node: Any) -> ast.Expr:
    """The engine's tree for a parser node (recursive)."""
    if isinstance(node, pp.ParenExpr):
        return _convert(node.expr)
    if isinstance(node, pp.NumberLiteral):
        return ast.NumberLiteral(float(node.val))
    if isinstance(node, pp.StringLiteral):
        return ast.StringLiteral(node.val)
    if isinstance(node, pp.VectorSelector):
        return _selector(node)
    if isinstance(node, pp.MatrixSelector):
        return ast.MatrixSelector(_selector(node.vector_selector), _ms(node.range))
    if isinstance(node, pp.SubqueryExpr):
        step = _ms(node.step) if node.step is not None else None
        return ast.Subquery(
            _convert(node.expr), _ms(node.range), step or None, _ms(node.offset), _at(node.at)
        )
    if isinstance(node, pp.UnaryExpr):
        return ast.Unary(_convert(node.expr))
    if isinstance(node, pp.Call):
        name = node.func.name
        if name not in SUPPORTED_FUNCTIONS:
            raise Unsupported(f"function {name}() is not supported")
        return ast.Call(name, [_convert(a) for a in node.args])
    if isinstance(node, pp.AggregateExpr):
        op = str(node.op)
        if op not in SUPPORTED_AGGREGATIONS:
            raise Unsupported(f"aggregation {op}() is not supported")
        modifier = node.modifier
        grouping: tuple[str, ...] = ()
        without = False
        if modifier is not None:
            grouping = tuple(modifier.labels)
            without = modifier.type == pp.AggModifierType.Without
        param = _convert(node.param) if node.param is not None else None
        return ast.Aggregate(op, _convert(node.expr), param, grouping, without)
    if isinstance(node, pp.BinaryExpr):
        return _binary(node)
    raise Unsupported(f"expression {type(node).__name__} is not supported")


def _binary(node: Any) -> ast.Binary:
    op = str(node.op)
    if op not in SUPPORTED_BINARY_OPS:
        raise Unsupported(f"binary operator {op} is not supported")
    out = ast.Binary(op, _convert(node.lhs), _convert(node.rhs))
    modifier = node.modifier
    if modifier is None:
        if op in ("and", "or", "unless"):
            out.card = "many-to-many"
        return out
    fill = modifier.fill_values
    if fill is not None and (fill.lhs is not None or fill.rhs is not None):
        raise Unsupported("fill() modifiers of binary operators are not supported")
    out.return_bool = bool(modifier.return_bool)
    out.card = next(name for card, name in _CARD if modifier.card == card)
    if modifier.matching is not None:
        out.on = modifier.matching.type == pp.LabelModifierType.Include
        out.matching = tuple(modifier.matching.labels)
    if modifier.group_labels:
        out.include = tuple(modifier.group_labels)
    return out


def parse(query: str) -> ast.Expr:
    """Parse a PromQL expression into the engine's tree.

    Raises :class:`ParseError` for invalid PromQL and :class:`Unsupported` for valid
    PromQL outside what the engine evaluates.
    """
    try:
        node = pp.parse(query)
    except (ValueError, OverflowError) as exc:
        message = str(exc)
        unknown = _UNKNOWN_FUNCTION.search(message)
        if unknown and unknown.group(1) in PROMETHEUS_FUNCTIONS:
            raise Unsupported(f"function {unknown.group(1)}() is not supported") from None
        raise ParseError(message or "invalid expression") from None
    except BaseException as exc:  # the Rust parser panics on some inputs
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise ParseError(f"invalid expression: {exc}") from None
    return _convert(node)
