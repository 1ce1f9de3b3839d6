from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsdb.errors import InvalidInput
from tsdb.timefmt import format_iso, parse_bound, parse_duration, parse_timestamp

NOW = 1_700_000_000_000


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1)))
def test_iso_timestamps_round_trip(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
    ms = parse_timestamp(moment.isoformat())
    assert ms == (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_timestamp(format_iso(ms)) == ms


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_epoch_ms_round_trips_through_iso(ms: int) -> None:
    assert parse_timestamp(format_iso(ms)) == ms
    assert parse_timestamp(str(ms)) == ms


@given(st.integers(min_value=1, max_value=1_000), st.sampled_from(["ms", "s", "m", "h", "d", "w"]))
def test_relative_times_move_back_and_forth_from_now(n: int, unit: str) -> None:
    ms = parse_duration(f"{n}{unit}")
    assert parse_timestamp(f"-{n}{unit}", now=NOW) == NOW - ms
    assert parse_timestamp(f"now-{n}{unit}", now=NOW) == NOW - ms
    assert parse_timestamp(f"+{n}{unit}", now=NOW) == NOW + ms


def test_offsets_and_naive_iso_mean_utc() -> None:
    assert parse_timestamp("2024-01-31T12:00:00") == 1_706_702_400_000
    assert parse_timestamp("2024-01-31T13:00:00+01:00") == 1_706_702_400_000
    assert parse_timestamp("2024-01-31T12:00:00.250Z") == 1_706_702_400_250
    assert parse_timestamp("now", now=NOW) == NOW


def test_durations() -> None:
    assert parse_duration("500") == 500
    assert parse_duration(500) == 500
    assert parse_duration("250ms") == 250
    assert parse_duration("30s") == 30_000
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("1d") == 86_400_000
    for bad in ("0", "-5", "5x", "m", "", "1.5h", True):
        with pytest.raises(InvalidInput):
            parse_duration(bad)  # type: ignore[arg-type]


def test_bounds_and_bad_timestamps() -> None:
    assert parse_bound("-", "from") is None
    assert parse_bound("+", "to") is None
    assert parse_bound(" ", "to") is None  # ?to=+ unencoded: the + arrives as a space
    assert parse_bound(None, "to") is None
    for bad in ("tomorrow", "-1", -1, True, 1.5, "2024-13-01", None):
        with pytest.raises(InvalidInput):
            parse_timestamp(bad)  # type: ignore[arg-type]
