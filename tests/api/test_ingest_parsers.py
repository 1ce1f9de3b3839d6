"""The ingest parsers on their own: no Redis, no HTTP."""

from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import api.ingest.lineproto as lineproto
from api.ingest.csvfmt import CsvParser
from api.ingest.jsonfmt import JsonParser
from api.ingest.lineproto import (
    LineError,
    LineProtocolParser,
    Precision,
    parse_line,
    parse_precision,
    series_key,
    series_labels,
)
from api.ingest.values import timestamps_from_objects, timestamps_from_strings, values_from_strings
from tsdb.bulk import Batch
from tsdb.errors import InvalidInput
from tsdb.keys import validate_key, validate_labels
from tsdb.rejections import Rejection, Rejections

NOW = 1_700_000_000_000


def run(parser: Any, body: bytes, step: int = 0) -> Batch:
    batches = []
    for start in range(0, len(body), step or max(len(body), 1)):
        batches += parser.feed(body[start : start + (step or len(body))])
    batches += parser.finish()
    return Batch.concat(batches)


def points(batch: Batch) -> list[tuple[str, int, float, int]]:
    return sorted(
        (batch.keys[c], t, v, p)
        for c, t, v, p in zip(
            batch.codes.tolist(),
            batch.ts.tolist(),
            batch.vs.tolist(),
            batch.pos.tolist(),
            strict=True,
        )
    )


def reasons(rejections: Rejections) -> list[tuple[int, str]]:
    return [(r.pos, r.reason) for r in rejections.items]


# -- line protocol ------------------------------------------------------------------------------


def test_parse_line_handles_every_escape() -> None:
    line = r'my\ m\,x,t\ k=v\,1,e\=q=a\=b f\ 1=1.5,s="say \"hi\", ok",i=-3i,u=7u,b=true 42'
    measurement, tags, fields, stamp = parse_line(line)
    assert measurement == "my m,x"
    assert tags == (("e=q", "a=b"), ("t k", "v,1"))
    assert fields == [
        ("f 1", 1.5),
        ("s", "field 's' is a string"),
        ("i", -3.0),
        ("u", 7.0),
        ("b", "field 'b' is a boolean"),
    ]
    assert stamp == 42
    assert parse_line("m v=1") == ("m", (), [("v", 1.0)], None)


@pytest.mark.parametrize(
    "line",
    [
        "m",
        "m ",
        ",t=1 v=1",
        "m,t v=1",
        "m,t= v=1",
        "m,t=1,t=2 v=1",
        "m v=",
        "m =1",
        "m v=1,",
        "m v=abc",
        "m v=1.5i",
        "m v=-1u",
        "m v=1 abc",
        "m v=1 1.5",
        'm v="open',
        "m v=inf",
        "m v=1_000",
        "m v=99999999999999999999i",
    ],
)
def test_parse_line_refuses_bad_lines(line: str) -> None:
    with pytest.raises(LineError):
        parse_line(line)


def test_series_keys_are_stable_valid_and_tag_order_free() -> None:
    assert series_key("cpu", "usage", (), None) == "cpu:usage"
    tagged = series_key("cpu", "usage", (("host", "a"), ("region", "us")), None)
    assert tagged.startswith("cpu:usage:") and len(tagged) == len("cpu:usage:") + 12
    assert tagged != series_key("cpu", "usage", (("host", "b"), ("region", "us")), None)
    assert tagged != series_key("cpu", "usage", (("host", "a"), ("region", "us")), "bucket")
    odd = series_key("my m,x", "f 1", (), None)
    assert odd.startswith("my_m_x:f_1:")
    assert odd != series_key("my m.x", "f 1", (), None)
    long = series_key("m" * 300, "f", (), None)
    assert validate_key(long) and len(long) == 256
    labels = series_labels("m", "f", (("1st", "a,b"), ("field", "x"), ("ok.k", "v")), "b")
    assert labels == {
        "_1st": "a_b",
        "tag_field": "x",
        "ok.k": "v",
        "measurement": "m",
        "field": "f",
        "bucket": "b",
    }
    assert validate_labels(labels) == labels


def test_precision_names() -> None:
    assert parse_precision(None) is Precision.NS
    assert parse_precision("us") is Precision.US
    assert parse_precision("u", v1=True) is Precision.US
    assert parse_precision("h", v1=True) is Precision.H
    for bad in ("h", "m", "minutes"):
        with pytest.raises(InvalidInput):
            parse_precision(bad)


def test_line_protocol_blocks_keep_line_numbers_and_the_last_write() -> None:
    body = b"# header\nm v=1 1000000\r\n\nm v=2 2000000\nbad\nm v=3,w=4 3000000\n  m v=5\n"
    rejections = Rejections("line")
    batch = run(LineProtocolParser(rejections, NOW, block_bytes=8), body, step=3)
    assert points(batch) == [
        ("m:v", 1, 1.0, 2),
        ("m:v", 2, 2.0, 4),
        ("m:v", 3, 3.0, 6),
        ("m:v", NOW, 5.0, 7),
        ("m:w", 3, 4.0, 6),
    ]
    assert reasons(rejections) == [(5, "unable to parse 'bad': missing fields")]


@pytest.mark.parametrize(
    ("precision", "stamp", "ms"),
    [("ns", 1_500_000, 1), ("us", 1_500, 1), ("ms", 1, 1), ("s", 2, 2000), ("m", 1, 60_000)],
)
def test_line_protocol_precisions(precision: str, stamp: int, ms: int) -> None:
    rejections = Rejections("line")
    parser = LineProtocolParser(rejections, NOW, parse_precision(precision, v1=True))
    assert points(run(parser, f"m v=1 {stamp}\nm v=2\n".encode())) == [
        ("m:v", ms, 1.0, 1),
        ("m:v", NOW // 60_000 * 60_000 if precision == "m" else NOW, 2.0, 2),
    ]


def test_line_protocol_refuses_times_before_1970_and_overflowing_ones() -> None:
    rejections = Rejections("line")
    parser = LineProtocolParser(rejections, NOW, Precision.S)
    assert points(run(parser, b"m v=1 -1\nm v=2 9223372036854775807\nm v=3 3\n")) == [
        ("m:v", 3000, 3.0, 3)
    ]
    assert [r.pos for r in rejections.items] == [1, 2]


_names = st.text(alphabet="abXY09_.", min_size=1, max_size=4)
_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda i: f"{i}i"),
    st.integers(min_value=0, max_value=2**64).map(lambda i: f"{i}u"),
    st.sampled_from(["t", "true", "FALSE", '"str"', "1.", ".5", "+1", "1e5", "-0", "inf", "x"]),
)
_tags = st.lists(st.tuples(_names, _names), max_size=3).map(
    lambda tags: "".join(f",{k}={v}" for k, v in tags)
)
_fields = st.lists(st.tuples(_names, _values), min_size=1, max_size=3).map(
    lambda fields: ",".join(f"{k}={v}" for k, v in fields)
)
_stamps = st.one_of(
    st.just(""),
    st.integers(min_value=-(10**19), max_value=10**19).map(lambda t: f" {t}"),
    st.sampled_from([" +5", " 05", " x"]),
)
_lines = st.one_of(
    st.builds(lambda m, t, f, s: f"{m}{t} {f}{s}", _names, _tags, _fields, _stamps),
    st.text(alphabet='ab =,\\"#i0.-\t', max_size=16),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_lines, min_size=1, max_size=30), precision=st.sampled_from(list(Precision)))
def test_vectorized_line_protocol_matches_the_exact_parser(
    lines: list[str], precision: Precision
) -> None:
    """The Arrow path takes plain lines; the per-line parser must agree on every one."""
    body = ("\n".join(lines) + "\n").encode()
    fast_rejections, slow_rejections = Rejections("line"), Rejections("line")
    fast = run(LineProtocolParser(fast_rejections, NOW, precision), body)
    original = lineproto._unusual_lines
    lineproto._unusual_lines = lambda block: np.ones(block.count(b"\n"), dtype=bool)
    try:
        slow = run(LineProtocolParser(slow_rejections, NOW, precision), body)
    finally:
        lineproto._unusual_lines = original
    assert points(fast) == points(slow)
    assert sorted(reasons(fast_rejections)) == sorted(reasons(slow_rejections))


# -- CSV ----------------------------------------------------------------------------------------


def test_csv_in_tiny_blocks_keeps_line_numbers() -> None:
    body = b'key,t,v\r\na,1,1\r\n"b",2,2\n\nc,3\na,x,4\na,5,5'
    rejections = Rejections("line")
    batch = run(CsvParser(rejections, NOW, block_bytes=4), body, step=5)
    assert points(batch) == [("a", 1, 1.0, 2), ("a", 5, 5.0, 7), ("b", 2, 2.0, 3)]
    assert [r.pos for r in rejections.items] == [5, 6]


def test_csv_columns_in_any_order_and_wide_form() -> None:
    rejections = Rejections("line")
    batch = run(CsvParser(rejections, NOW), b"v,key,t\n1.5,a,10\n")
    assert points(batch) == [("a", 10, 1.5, 2)]
    batch = run(CsvParser(rejections, NOW), b"time,a,b\n10,1,\n20,,x\n,3,\n")
    assert points(batch) == [("a", 10, 1.0, 2)]
    assert [(r.pos, r.key, r.reason) for r in rejections.items] == [
        (3, "b", "value must be a number"),
        (4, "a", "missing timestamp"),
    ]


def test_csv_with_invalid_utf8_still_parses() -> None:
    rejections = Rejections("line")
    batch = run(CsvParser(rejections, NOW), b"key,t,v\na,1,1\n\xff\xfe,2,2\nb,3,3\n")
    assert points(batch) == [("a", 1, 1.0, 2), ("b", 3, 3.0, 4), ("\ufffd\ufffd", 2, 2.0, 3)]
    with pytest.raises(InvalidInput):  # the writer rejects that key
        validate_key("\ufffd\ufffd")


@pytest.mark.parametrize("header", [b"", b"a,b\n", b"key,t,v,x\n", b"t,a,,b\n", b"t,a,a\n"])
def test_csv_header_problems(header: bytes) -> None:
    parser = CsvParser(Rejections("line"), NOW)
    if not header:
        assert run(parser, header).codes.size == 0
        return
    with pytest.raises(InvalidInput):
        run(parser, header + b"1,2,3\n")


# -- JSON ---------------------------------------------------------------------------------------


def test_json_indexes_count_points_across_series() -> None:
    rejections = Rejections("index")
    body = orjson.dumps({"a": [[1, 1], [2, "x"]], "b": [[3, 3], 7, [4, None]]})
    batch = run(JsonParser(rejections, NOW), body)
    assert points(batch) == [("a", 1, 1.0, 0), ("b", 3, 3.0, 2)]
    assert [(r.pos, r.key, r.reason) for r in rejections.items] == [
        (1, "a", "value must be a number"),
        (3, "b", 'a point is [t, v] or {"t": ..., "v": ...}'),
        (4, "b", "missing value"),
    ]


def test_json_columnar_accepts_iso_and_relative_times() -> None:
    rejections = Rejections("index")
    body = orjson.dumps({"key": "a", "t": ["1970-01-01T00:00:01Z", "-1s", 5.0], "v": [1, 2, 3]})
    batch = run(JsonParser(rejections, NOW), body)
    assert points(batch) == [("a", 5, 3.0, 2), ("a", 1000, 1.0, 0), ("a", NOW - 1000, 2.0, 1)]


# -- conversions --------------------------------------------------------------------------------


def test_timestamps_from_strings_fast_and_slow() -> None:
    column = pa.array(["5", "1970-01-01T00:00:02Z", "1970-01-01T00:00:03", "now", "-1", "", "x"])
    times, errors = timestamps_from_strings(column, NOW)
    assert times[:4].tolist() == [5, 2000, 3000, NOW]
    assert [i for i, _ in errors] == [4, 5, 6]
    assert errors[1][1] == "missing timestamp"


def test_timestamps_from_objects_refuse_booleans_and_fractions() -> None:
    times, errors = timestamps_from_objects(
        [1, True, 2.5, None, 2**70, "1970-01-01T00:00:01Z"], NOW
    )
    assert times[0] == 1 and times[5] == 1000
    assert [i for i, _ in errors] == [1, 2, 3, 4]


def test_values_from_strings() -> None:
    values, errors = values_from_strings(pa.array(["1.5", " 2 ", "nan", "1e999", "", "1_0", "x"]))
    assert values[:2].tolist() == [1.5, 2.0]
    assert [(i, r.split()[0]) for i, r in errors] == [
        (2, "value"),
        (3, "value"),
        (4, "missing"),
        (5, "value"),
        (6, "value"),
    ]


def test_rejections_keep_the_first_by_position_and_count_all() -> None:
    rejections = Rejections("line", cap=3)
    for pos in (9, 8, 7, 1, 6, 5, 4, 2, 3):
        rejections.add(Rejection(pos, "r"))
    assert rejections.count == 9
    assert [r.pos for r in rejections.items] == [1, 2, 3]
    assert rejections.as_dicts()[0] == {"line": 1, "reason": "r"}
