"""The query engine: plans the data a query needs, reads it, evaluates it.

Every expression is evaluated over a whole grid of evaluation times at once (one time for
an instant query, ``start..end`` by ``step`` for a range query, the aligned inner grid for
a subquery). Before evaluating, the engine works out for each selector the exact time span
it needs and calls :meth:`Source.select` once per selector, concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from promql import ast
from promql.aggregations import aggregate
from promql.binops import scalar_scalar, vector_scalar, vector_vector
from promql.errors import BadData, ExecutionError, QueryCanceled, QueryTimeout
from promql.eval.result import QueryResult
from promql.eval.values import RangeInput, Scal, Str, Value, Vec, check_no_duplicates
from promql.functions import (
    MATH_FUNCTIONS,
    absent,
    clamp,
    label_join,
    label_replace,
    map_values,
    round_to,
    scalar,
    sort_vector,
)
from promql.histogram import histogram_quantile
from promql.labels import drop_name
from promql.model import Labels, Series, Source, is_stale, labels_of
from promql.params import check_range
from promql.parse import parse
from promql.range_functions import RANGE_FUNCTIONS, evaluate_range_function

__all__ = ["DEFAULT_LOOKBACK_MS", "DEFAULT_MAX_SAMPLES", "DEFAULT_SUBQUERY_STEP_MS", "Engine"]

DEFAULT_LOOKBACK_MS = 5 * 60_000
DEFAULT_SUBQUERY_STEP_MS = 60_000  # Prometheus' default evaluation interval
DEFAULT_MAX_SAMPLES = 50_000_000  # Prometheus' --query.max-samples
TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"

_Raw = tuple[Labels, np.ndarray, np.ndarray]


def _ceil_to(value: int, step: int) -> int:
    return -((-value) // step) * step


@dataclass
class _Query:
    start_ms: int
    end_ms: int
    lookback_ms: int
    subquery_step_ms: int
    deadline: float | None
    cancelled: Callable[[], bool] | None


class Engine:
    """Evaluates PromQL over a :class:`~promql.model.Source` with Prometheus 2.42's rules.

    ``lookback_ms`` is ``--query.lookback-delta`` (5 minutes); ``subquery_step_ms`` the
    step of subqueries written without one (Prometheus' evaluation interval, 1 minute);
    ``max_samples`` caps the samples a query may load (``--query.max-samples``; counted
    on what the source returns, a simpler measure than Prometheus' peak count).
    """

    def __init__(
        self,
        source: Source,
        *,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS,
        max_samples: int = DEFAULT_MAX_SAMPLES,
    ) -> None:
        self.source = source
        self.lookback_ms = lookback_ms
        self.subquery_step_ms = subquery_step_ms
        self.max_samples = max_samples

    async def instant_query(
        self,
        query: str,
        time_ms: int,
        *,
        deadline: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> QueryResult:
        """Evaluate ``query`` at one time (``/api/v1/query``).

        ``deadline`` is a :func:`time.monotonic` instant after which evaluation stops
        with :class:`QueryTimeout`; ``cancelled`` is polled likewise (:class:`QueryCanceled`).
        """
        expr = parse(query)
        return await self._run(expr, time_ms, time_ms, 1, deadline, cancelled, instant=True)

    async def range_query(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        deadline: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> QueryResult:
        """Evaluate ``query`` from ``start_ms`` to ``end_ms`` every ``step_ms``
        (``/api/v1/query_range``). The result is a matrix sorted by labels."""
        check_range(start_ms, end_ms, step_ms)
        expr = parse(query)
        kind = _static_type(expr)
        if kind not in ("vector", "scalar"):
            raise BadData(
                f'invalid expression type "{kind}" for range query, '
                "must be Scalar or instant Vector"
            )
        return await self._run(expr, start_ms, end_ms, step_ms, deadline, cancelled, False)

    async def _run(
        self,
        expr: ast.Expr,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        deadline: float | None,
        cancelled: Callable[[], bool] | None,
        instant: bool,
    ) -> QueryResult:
        q = _Query(start_ms, end_ms, self.lookback_ms, self.subquery_step_ms, deadline, cancelled)
        spans: dict[int, tuple[ast.VectorSelector, int, int]] = {}
        _plan(expr, start_ms, end_ms, q, spans)
        keys = list(spans)
        reads = asyncio.gather(
            *(self.source.select(spans[k][0].matchers, spans[k][1], spans[k][2]) for k in keys)
        )
        if deadline is None:
            fetched = await reads
        else:
            try:
                fetched = await asyncio.wait_for(reads, max(deadline - time.monotonic(), 0))
            except TimeoutError:
                raise QueryTimeout("query timed out in query execution") from None
        loaded = sum(len(s.t) for series in fetched for s in series)
        if loaded > self.max_samples:
            raise ExecutionError(TOO_MANY_SAMPLES)
        data = {
            key: (spans[key][1], spans[key][2], got) for key, got in zip(keys, fetched, strict=True)
        }
        evaluator = _Evaluator(q, data)
        ts = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        with np.errstate(all="ignore"):  # NaN and ±Inf are values here, as in Go
            if instant:
                return evaluator.instant_result(expr, ts)
            return evaluator.range_result(expr, ts)


def _static_type(expr: ast.Expr) -> str:
    if isinstance(expr, ast.MatrixSelector | ast.Subquery):
        return "range vector"
    if isinstance(expr, ast.StringLiteral):
        return "string"
    if isinstance(expr, ast.NumberLiteral):
        return "scalar"
    if isinstance(expr, ast.Call) and expr.name in ("time", "scalar"):
        return "scalar"
    if isinstance(expr, ast.Binary):
        left, right = _static_type(expr.lhs), _static_type(expr.rhs)
        return "scalar" if left == right == "scalar" else "vector"
    if isinstance(expr, ast.Unary):
        return _static_type(expr.expr)
    return "vector"


def _at_ms(at: ast.At, q: _Query) -> int | None:
    if at is None:
        return None
    if at == ast.AT_START:
        return q.start_ms
    if at == ast.AT_END:
        return q.end_ms
    return int(at)


def _ref_range(tmin: int, tmax: int, offset: int, at: ast.At, q: _Query) -> tuple[int, int]:
    fixed = _at_ms(at, q)
    if fixed is not None:
        return fixed - offset, fixed - offset
    return tmin - offset, tmax - offset


def _plan(
    node: ast.Expr,
    tmin: int,
    tmax: int,
    q: _Query,
    spans: dict[int, tuple[ast.VectorSelector, int, int]],
) -> None:
    """Record the span each selector needs when ``node`` is evaluated within [tmin, tmax].

    ``timestamp(x @ t offset o)`` looks at t, ignoring o, but Prometheus 2.42 loads that
    selector's samples for t - o, as here: the engine never looks outside a span.
    """
    if isinstance(node, ast.VectorSelector):
        lo, hi = _ref_range(tmin, tmax, node.offset_ms, node.at, q)
        spans[id(node)] = (node, lo - q.lookback_ms, hi)
    elif isinstance(node, ast.MatrixSelector):
        sel = node.selector
        lo, hi = _ref_range(tmin, tmax, sel.offset_ms, sel.at, q)
        spans[id(sel)] = (sel, lo - node.range_ms, hi)
    elif isinstance(node, ast.Subquery):
        lo, hi = _ref_range(tmin, tmax, node.offset_ms, node.at, q)
        step = node.step_ms or q.subquery_step_ms
        inner_start = _ceil_to(lo - node.range_ms, step)
        if inner_start <= hi:
            inner_end = inner_start + (hi - inner_start) // step * step
            _plan(node.expr, inner_start, inner_end, q, spans)
    elif isinstance(node, ast.Call):
        for arg in node.args:
            _plan(arg, tmin, tmax, q, spans)
    elif isinstance(node, ast.Aggregate):
        if node.param is not None:
            _plan(node.param, tmin, tmax, q, spans)
        _plan(node.expr, tmin, tmax, q, spans)
    elif isinstance(node, ast.Binary):
        _plan(node.lhs, tmin, tmax, q, spans)
        _plan(node.rhs, tmin, tmax, q, spans)
    elif isinstance(node, ast.Unary):
        _plan(node.expr, tmin, tmax, q, spans)


def _absent_labels(node: ast.Expr) -> Labels:
    """Prometheus' labels of ``absent``: the selector's equality matchers (a label matched
    twice, or by another operator, is left out)."""
    if isinstance(node, ast.MatrixSelector):
        node = node.selector
    if not isinstance(node, ast.VectorSelector):
        return ()
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in node.matchers:
        if m.name == "__name__":
            continue
        if m.op == "=" and m.name not in seen:
            out[m.name] = m.value
            seen.add(m.name)
        else:
            out.pop(m.name, None)
    return labels_of(out)


class _Evaluator:
    def __init__(self, q: _Query, data: dict[int, tuple[int, int, list[Series]]]) -> None:
        self.q = q
        self.data = data
        self._raw: dict[int, list[_Raw]] = {}

    # -- plumbing ----------------------------------------------------------------------

    def check(self) -> None:
        """Stop with QueryTimeout/QueryCanceled once the deadline passed or on cancel."""
        if self.q.deadline is not None and time.monotonic() > self.q.deadline:
            raise QueryTimeout("query timed out in expression evaluation")
        if self.q.cancelled is not None and self.q.cancelled():
            raise QueryCanceled("query was canceled in expression evaluation")

    def refs(
        self, ts: np.ndarray, offset: int, at: ast.At, ignore_offset: bool = False
    ) -> np.ndarray:
        fixed = _at_ms(at, self.q)
        if fixed is not None:
            return np.full(len(ts), fixed if ignore_offset else fixed - offset, dtype=np.int64)
        return ts - offset

    def raw(self, node: ast.VectorSelector) -> list[_Raw]:
        """The selector's series within its span, sorted by labels (as Prometheus' storage
        returns them)."""
        cached = self._raw.get(id(node))
        if cached is None:
            lo, hi, series = self.data.get(id(node), (0, -1, []))
            cached = []
            for s in series:
                t = np.asarray(s.t, np.int64)
                v = np.asarray(s.v, np.float64)
                a, b = np.searchsorted(t, [lo, hi], "left")[0], np.searchsorted(t, hi, "right")
                cached.append((labels_of(s.labels), t[a:b], v[a:b]))
            cached.sort(key=lambda r: r[0])
            self._raw[id(node)] = cached
        return cached

    # -- selectors -----------------------------------------------------------------------

    def instant_selector(
        self, node: ast.VectorSelector, ts: np.ndarray, ignore_offset: bool = False
    ) -> tuple[Vec, np.ndarray]:
        """The vector at each step, and the timestamp of each value used."""
        refs = self.refs(ts, node.offset_ms, node.at, ignore_offset)
        labels, values, present, times = [], [], [], []
        for series_labels, t, v in self.raw(node):
            self.check()
            if not len(t):
                continue
            idx = np.searchsorted(t, refs, "right") - 1
            ok = idx >= 0
            idx = np.maximum(idx, 0)
            sample_t = t[idx]
            sample_v = v[idx]
            ok &= sample_t >= refs - self.q.lookback_ms
            ok &= ~is_stale(sample_v)
            if ok.any():
                labels.append(series_labels)
                values.append(sample_v)
                present.append(ok)
                times.append(sample_t)
        vec = Vec.from_rows(labels, values, present, len(ts))
        stamp = np.vstack(times) if times else np.empty((0, len(ts)), dtype=np.int64)
        if len(vec.labels) != len(labels):
            keep = [i for i, p in enumerate(present) if p.any()]
            stamp = stamp[keep]
        return vec, stamp

    def range_input(self, node: ast.Expr, ts: np.ndarray) -> RangeInput:
        """A matrix selector's or subquery's series and the window end of each step."""
        if isinstance(node, ast.MatrixSelector):
            sel = node.selector
            refs = self.refs(ts, sel.offset_ms, sel.at)
            series = []
            for labels, t, v in self.raw(sel):
                stale = is_stale(v)
                if stale.any():
                    t, v = t[~stale], v[~stale]
                series.append((labels, t, v))
            return RangeInput(series, refs, node.range_ms, sel)
        assert isinstance(node, ast.Subquery)
        refs = self.refs(ts, node.offset_ms, node.at)
        step = node.step_ms or self.q.subquery_step_ms
        inner_start = _ceil_to(int(refs.min()) - node.range_ms, step)
        inner_ts = np.arange(inner_start, int(refs.max()) + 1, step, dtype=np.int64)
        series = []
        if len(inner_ts):
            inner = self.eval(node.expr, inner_ts)
            if isinstance(inner, Scal):
                inner = Vec([()], inner.values[None, :], np.ones((1, len(inner_ts)), bool))
            assert isinstance(inner, Vec)
            for labels, values, present in zip(
                inner.labels, inner.values, inner.present, strict=True
            ):
                series.append((labels, inner_ts[present], values[present]))
        return RangeInput(series, refs, node.range_ms, None)

    # -- evaluation ----------------------------------------------------------------------

    def eval(self, node: ast.Expr, ts: np.ndarray) -> Value:
        """Evaluate ``node`` at every time of ``ts``."""
        self.check()
        n = len(ts)
        if isinstance(node, ast.NumberLiteral):
            return Scal(np.full(n, node.value))
        if isinstance(node, ast.StringLiteral):
            return Str(node.value)
        if isinstance(node, ast.VectorSelector):
            return self.instant_selector(node, ts)[0]
        if isinstance(node, ast.Call):
            return self.call(node, ts)
        if isinstance(node, ast.Aggregate):
            return self.aggregate(node, ts)
        if isinstance(node, ast.Binary):
            return self.binary(node, ts)
        if isinstance(node, ast.Unary):
            value = self.eval(node.expr, ts)
            if isinstance(value, Scal):
                return Scal(-value.values)
            assert isinstance(value, Vec)
            out = Vec([drop_name(lb) for lb in value.labels], -value.values, value.present)
            check_no_duplicates(out)
            return out
        raise BadData(f"a {type(node).__name__} cannot be evaluated here")

    def scalar_arg(self, node: ast.Expr, ts: np.ndarray) -> np.ndarray:
        value = self.eval(node, ts)
        assert isinstance(value, Scal)
        return value.values

    def vector_arg(self, node: ast.Expr, ts: np.ndarray) -> Vec:
        value = self.eval(node, ts)
        assert isinstance(value, Vec)
        return value

    def call(self, node: ast.Call, ts: np.ndarray) -> Value:
        name, args = node.name, node.args
        n = len(ts)
        if name in RANGE_FUNCTIONS:
            index = next(
                i for i, a in enumerate(args) if isinstance(a, ast.MatrixSelector | ast.Subquery)
            )
            param = None
            for i, arg in enumerate(args):
                if i != index:
                    param = self.scalar_arg(arg, ts)
            rin = self.range_input(args[index], ts)
            vec = evaluate_range_function(name, rin, ts, param, self.check)
            if name == "absent_over_time":
                missing = ~vec.present.any(axis=0) if vec.labels else np.ones(n, dtype=bool)
                return Vec.from_rows([_absent_labels(args[index])], [np.ones(n)], [missing], n)
            return vec
        if name == "time":
            return Scal(ts / 1000)
        if name == "vector":
            return Vec([()], self.scalar_arg(args[0], ts)[None, :].copy(), np.ones((1, n), bool))
        if name == "scalar":
            return scalar(self.vector_arg(args[0], ts))
        if name == "timestamp":
            arg = args[0]
            if isinstance(arg, ast.VectorSelector):
                vec, stamps = self.instant_selector(arg, ts, ignore_offset=arg.at is not None)
                return map_values(vec, stamps / 1000)
            vec = self.vector_arg(arg, ts)
            return map_values(vec, np.broadcast_to(ts / 1000, vec.values.shape).copy())
        if name in MATH_FUNCTIONS:
            vec = self.vector_arg(args[0], ts)
            return map_values(vec, MATH_FUNCTIONS[name](vec.values))
        if name == "round":
            vec = self.vector_arg(args[0], ts)
            to_nearest = self.scalar_arg(args[1], ts) if len(args) > 1 else np.ones(n)
            return round_to(vec, to_nearest)
        if name == "clamp":
            vec = self.vector_arg(args[0], ts)
            return clamp(vec, self.scalar_arg(args[1], ts), self.scalar_arg(args[2], ts))
        if name == "clamp_min":
            vec = self.vector_arg(args[0], ts)
            return clamp(vec, self.scalar_arg(args[1], ts), None)
        if name == "clamp_max":
            vec = self.vector_arg(args[0], ts)
            return clamp(vec, None, self.scalar_arg(args[1], ts))
        if name == "label_replace":
            vec = self.vector_arg(args[0], ts)
            dst, repl, src, regex = (self.string_arg(a) for a in args[1:5])
            return label_replace(vec, dst, repl, src, regex)
        if name == "label_join":
            vec = self.vector_arg(args[0], ts)
            dst, sep, *sources = (self.string_arg(a) for a in args[1:])
            return label_join(vec, dst, sep, sources)
        if name in ("sort", "sort_desc"):
            return sort_vector(self.vector_arg(args[0], ts), name == "sort_desc")
        if name == "absent":
            return absent(self.vector_arg(args[0], ts), _absent_labels(args[0]))
        if name == "histogram_quantile":
            q = self.scalar_arg(args[0], ts)
            return histogram_quantile(q, self.vector_arg(args[1], ts), self.check)
        raise AssertionError(f"unhandled function {name}")  # parse() rejects the rest

    def string_arg(self, node: ast.Expr) -> str:
        assert isinstance(node, ast.StringLiteral)
        return node.value

    def aggregate(self, node: ast.Aggregate, ts: np.ndarray) -> Vec:
        param: np.ndarray | str | None = None
        if node.param is not None:
            if isinstance(node.param, ast.StringLiteral):
                param = node.param.value
            else:
                param = self.scalar_arg(node.param, ts)
        vec = self.vector_arg(node.expr, ts)
        return aggregate(node.op, vec, node.grouping, node.without, param, self.check)

    def binary(self, node: ast.Binary, ts: np.ndarray) -> Value:
        lhs = self.eval(node.lhs, ts)
        rhs = self.eval(node.rhs, ts)
        if isinstance(lhs, Scal) and isinstance(rhs, Scal):
            return scalar_scalar(node.op, lhs, rhs)
        if isinstance(lhs, Vec) and isinstance(rhs, Scal):
            return vector_scalar(node.op, lhs, rhs, False, node.return_bool)
        if isinstance(lhs, Scal) and isinstance(rhs, Vec):
            return vector_scalar(node.op, rhs, lhs, True, node.return_bool)
        assert isinstance(lhs, Vec) and isinstance(rhs, Vec)
        return vector_vector(node, lhs, rhs)

    # -- results -------------------------------------------------------------------------

    def instant_result(self, expr: ast.Expr, ts: np.ndarray) -> QueryResult:
        t = int(ts[0])
        if isinstance(expr, ast.MatrixSelector | ast.Subquery):
            rin = self.range_input(expr, ts)
            matrix = []
            for labels, st, sv in rin.series:
                lo, hi = rin.windows(st)
                if hi[0] > lo[0]:
                    matrix.append((labels, st[lo[0] : hi[0]], sv[lo[0] : hi[0]]))
            return QueryResult("matrix", matrix=matrix)
        value = self.eval(expr, ts)
        if isinstance(value, Scal):
            return QueryResult("scalar", scalar=(t, float(value.values[0])))
        if isinstance(value, Str):
            return QueryResult("string", string=(t, value.value))
        vector = [
            (labels, t, float(v[0]))
            for labels, v, p in zip(value.labels, value.values, value.present, strict=True)
            if p[0]
        ]
        return QueryResult("vector", vector=vector)

    def range_result(self, expr: ast.Expr, ts: np.ndarray) -> QueryResult:
        value = self.eval(expr, ts)
        if isinstance(value, Scal):
            return QueryResult("matrix", matrix=[((), ts, value.values)])
        assert isinstance(value, Vec)
        rows = sorted(range(len(value.labels)), key=lambda i: value.labels[i])
        matrix = []
        for i in rows:
            p = value.present[i]
            if p.any():
                matrix.append((value.labels[i], ts[p], value.values[i][p]))
        return QueryResult("matrix", matrix=matrix)
