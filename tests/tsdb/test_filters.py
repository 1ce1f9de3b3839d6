import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsdb.errors import InvalidInput
from tsdb.filters import parse_filters


def test_every_queryindex_form_is_accepted() -> None:
    filters = ["a=b", "c!=d", "e=", "f!=", "g=(x,y)", "h!=(u,v)", "city=New York"]
    assert parse_filters(filters) == tuple(filters)


@pytest.mark.parametrize(
    "filters",
    [
        [],
        ["a!=b"],
        ["a="],
        ["a!=(x,y)"],
        ["noop"],
        ["=b"],
        ["a==b"],
        ["a=b c)"],
        ["a=(x,)"],
        ["a=x", "b=y\nFILTER"],
        ["a=b,c"],
        ['a="b"'],
    ],
)
def test_bad_or_purely_negative_filters_are_refused(filters: list[str]) -> None:
    with pytest.raises(InvalidInput):
        parse_filters(filters)


@given(st.text(min_size=1, max_size=30))
def test_arbitrary_text_either_parses_to_itself_or_is_refused(text: str) -> None:
    try:
        parsed = parse_filters([text])
    except InvalidInput:
        return
    assert parsed == (text.strip(),)
    assert "(" not in text.split("=", 1)[0]
