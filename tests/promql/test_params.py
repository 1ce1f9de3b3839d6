"""API parameters parsed as Prometheus parses them, with its messages."""

from __future__ import annotations

import pytest

from promql.errors import BadData
from promql.params import check_range, go_parse_float, parse_duration, parse_time


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1700000000", 1_700_000_000_000),
        ("1700000000.123", 1_700_000_000_123),
        ("1700000000.1234", 1_700_000_000_123),
        ("1700000000.9996", 1_700_000_001_000),
        ("1.7e9", 1_700_000_000_000),
        ("-1.5", -1_500),
        ("0", 0),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000_500),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000_000),
        ("2023-11-14T20:13:20-02:00", 1_700_000_000_000),
        ("-292273086-05-16T16:47:06Z", -9223372036854776),
        ("292277025-08-18T07:12:54.999999999Z", 9223372036854775),
    ],
)
def test_times(text: str, ms: int) -> None:
    assert parse_time(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        "",
        "now",
        "2023-11-14",
        "2023-11-14 22:13:20Z",
        "2023-11-14T22:13:20",
        " 1",
        "1_0",
        "NaN",
        "Inf",
    ],
)
def test_bad_times(text: str) -> None:
    with pytest.raises(BadData) as info:
        parse_time(text, "start")
    assert (
        str(info.value) == f'invalid parameter "start": cannot parse "{text}" to a valid timestamp'
    )
    assert info.value.error_type == "bad_data"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("15", 15_000),
        ("0.5", 500),
        ("1e3", 1_000_000),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("2w", 14 * 86_400_000),
        ("1y", 365 * 86_400_000),
        ("1h1m1s1ms", 3_661_001),
        ("100ms", 100),
        ("0", 0),
        ("0.0001", 0),
        ("-5", -5_000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["1.5m", "5M", "m", "1m1h", "abc", "1 m", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadData) as info:
        parse_duration(text, "step")
    assert str(info.value) == f'invalid parameter "step": cannot parse "{text}" to a valid duration'


def test_duration_overflow() -> None:
    with pytest.raises(BadData, match="It overflows int64"):
        parse_duration("1e300", "timeout")
    with pytest.raises(BadData, match="It overflows int64"):
        parse_duration("Inf", "timeout")


def test_range_limits() -> None:
    check_range(0, 11_000_000, 1000)  # 11,001 points: allowed, as in Prometheus
    with pytest.raises(BadData) as info:
        check_range(0, 11_001_000, 1000)
    assert str(info.value) == (
        "exceeded maximum resolution of 11,000 points per timeseries. "
        "Try decreasing the query resolution (?step=XX)"
    )
    with pytest.raises(
        BadData, match=r"^zero or negative query resolution step widths are not accepted"
    ):
        check_range(0, 10, 0)
    with pytest.raises(BadData, match=r"^end timestamp must not be before start time$"):
        check_range(10, 0, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("-2.5e3", -2500.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("+Inf", float("inf")),
        ("0x1p-2", 0.25),
    ],
)
def test_go_floats(text: str, value: float) -> None:
    assert go_parse_float(text) == value


@pytest.mark.parametrize("text", ["", " 1", "1 ", "1_000", "1e", "0x", "abc", "1e999"])
def test_go_float_refusals(text: str) -> None:
    assert go_parse_float(text) is None
