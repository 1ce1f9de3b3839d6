"""The corpus exercises every supported function, aggregation, operator and modifier."""

from __future__ import annotations

from pathlib import Path

import yaml

from promql import ast
from promql.errors import PromQLError
from promql.parse import SUPPORTED_AGGREGATIONS, SUPPORTED_BINARY_OPS, SUPPORTED_FUNCTIONS, parse

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus.yaml").read_text())

CONSTRUCTS = {
    "offset", "negative offset", "@", "@ start()", "@ end()", "range vector", "subquery",
    "subquery default step", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "unary minus", "number literal", "string literal", "=", "!=", "=~", "!~",
    "scalar-scalar", "vector-scalar", "scalar-vector", "vector-vector",
}  # fmt: skip


def _walk(node: ast.Expr, seen: set[str]) -> None:
    if isinstance(node, ast.NumberLiteral):
        seen.add("number literal")
    elif isinstance(node, ast.StringLiteral):
        seen.add("string literal")
    elif isinstance(node, ast.VectorSelector):
        seen.update(m.op for m in node.matchers)
        if node.offset_ms:
            seen.add("offset" if node.offset_ms > 0 else "negative offset")
        if node.at is not None:
            seen.add({"start": "@ start()", "end": "@ end()"}.get(str(node.at), "@"))
    elif isinstance(node, ast.MatrixSelector):
        seen.add("range vector")
        _walk(node.selector, seen)
    elif isinstance(node, ast.Subquery):
        seen.add("subquery" if node.step_ms else "subquery default step")
        if node.offset_ms:
            seen.add("offset" if node.offset_ms > 0 else "negative offset")
        _walk(node.expr, seen)
    elif isinstance(node, ast.Call):
        seen.add(f"{node.name}()")
        for arg in node.args:
            _walk(arg, seen)
    elif isinstance(node, ast.Aggregate):
        seen.add(f"{node.op}()")
        if node.grouping or node.without:
            seen.add("without" if node.without else "by")
        if node.param is not None:
            _walk(node.param, seen)
        _walk(node.expr, seen)
    elif isinstance(node, ast.Binary):
        seen.add(node.op)
        if node.return_bool:
            seen.add("bool")
        if node.matching or node.on:
            seen.add("on" if node.on else "ignoring")
        if node.card == "many-to-one":
            seen.add("group_left")
        if node.card == "one-to-many":
            seen.add("group_right")
        _walk(node.lhs, seen)
        _walk(node.rhs, seen)
    elif isinstance(node, ast.Unary):
        seen.add("unary minus")
        _walk(node.expr, seen)


def _shapes(node: ast.Expr, seen: set[str]) -> None:
    scalar_nodes = (ast.NumberLiteral,)
    if isinstance(node, ast.Binary):
        left = "scalar" if isinstance(node.lhs, scalar_nodes) else "vector"
        right = "scalar" if isinstance(node.rhs, scalar_nodes) else "vector"
        seen.add(f"{left}-{right}")


def test_corpus_covers_everything_supported() -> None:
    seen: set[str] = set()
    for entry in CORPUS["queries"]:
        try:
            tree = parse(entry["expr"])
        except PromQLError:
            continue
        _walk(tree, seen)
        _shapes(tree, seen)
    wanted = (
        {f"{name}()" for name in SUPPORTED_FUNCTIONS | SUPPORTED_AGGREGATIONS}
        | set(SUPPORTED_BINARY_OPS)
        | CONSTRUCTS
    )
    assert not wanted - seen, f"not in the corpus: {sorted(wanted - seen)}"


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS["queries"]) >= 200
    kinds = {entry.get("kind", "both") for entry in CORPUS["queries"]}
    assert {"instant", "range", "both"} <= kinds
