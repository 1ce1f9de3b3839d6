"""TS.MRANGE replies parsed in bulk (tsdb.mrange_reply, by the compiled reader and by numpy)
against hiredis: the same keys, labels, timestamps and value bits, for hand-made RESP3 bytes
of every double spelling and for real replies of a Redis Stack."""

from __future__ import annotations

import math
import struct
from typing import Any

import hiredis
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsdb import promread
from tsdb.connection import connect
from tsdb.mrange_reply import COMPILED, Joined, Unusual, parse_mrange
from tsdb.promread import _as_map, _columns, _command, _mrange, _mrange_raw

T = 1_700_000_000_000
DOUBLE_TEXT = st.one_of(
    st.floats(allow_nan=False).map(repr),
    st.floats(allow_nan=False).map(lambda v: f"{v:.17g}"),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["inf", "-inf", "nan", "-0", "0", "1e+20", "1.5e-300", "-12.5", "0.1"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    # Clinger's fast path and its edges: 2**53 mantissas, 10**22, more than 19 digits
    st.builds(
        lambda m, e, sign: f"{sign}{m}e{e}",
        st.integers(0, 2**54),
        st.integers(-25, 25),
        st.sampled_from(["", "-"]),
    ),
    st.builds(
        lambda m, k: f"{m[:k]}.{m[k:]}",
        st.text("0123456789", min_size=1, max_size=24),
        st.integers(0, 24),
    ),
)
READERS = [pytest.param(False, id="numpy")]
if COMPILED:
    READERS.insert(0, pytest.param(True, id="compiled"))


def _bulk(text: str) -> bytes:
    raw = text.encode()
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


KEYS = st.lists(st.text(min_size=1, max_size=12), max_size=5, unique=True)


@st.composite
def replies(draw: st.DrawFn, keys: list[str] | None = None, with_labels: bool = True) -> bytes:
    """A ``TS.MRANGE`` reply of ``keys`` (drawn by default), ``WITHLABELS`` or not."""
    keys = draw(KEYS) if keys is None else keys
    out = [b"%%%d\r\n" % len(keys)]
    for key in keys:
        out.append(_bulk(key) + b"*3\r\n")
        pairs = st.dictionaries(st.text(max_size=8), st.none() | st.text(max_size=8))
        labels = draw(pairs) if with_labels else {}
        out.append(b"%%%d\r\n" % len(labels))
        for name, value in labels.items():
            out.append(_bulk(name) + (b"_\r\n" if value is None else _bulk(value)))
        out.append(b"%1\r\n" + _bulk("aggregators") + b"*0\r\n")
        stamps = draw(st.lists(st.integers(0, 2**53), max_size=30))
        out.append(b"*%d\r\n" % len(stamps))
        for t in stamps:
            out.append(b"*2\r\n:%d\r\n,%s\r\n" % (t, draw(DOUBLE_TEXT).encode()))
    return b"".join(out)


def _same(raw: bytes, compiled: bool) -> None:
    expected = _hiredis(raw)
    got = parse_mrange(raw, compiled=compiled)
    assert [k for k, *_ in got] == list(expected)
    for key, labels, t, v in got:
        ref_t, ref_v = _columns(expected[key][-1])
        assert labels == _as_map(expected[key][0])
        assert t.dtype == np.int64 and v.dtype == np.float64
        assert t.tolist() == ref_t.tolist()
        assert len(v) == len(ref_v)
        for a, b in zip(v.tolist(), ref_v.tolist(), strict=True):
            assert (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)


@pytest.mark.parametrize("compiled", READERS)
@settings(max_examples=300, deadline=None)
@given(raw=replies())
def test_hand_made_replies_parse_as_hiredis_does(compiled: bool, raw: bytes) -> None:
    _same(raw, compiled)


@pytest.mark.parametrize("compiled", READERS)
def test_a_reply_is_read_up_to_its_end(compiled: bool) -> None:
    """The reply is ``raw[:end]``: what follows it (the ECHO token) is not read into it."""
    one = b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:5\r\n,2.5\r\n"
    [(key, _, t, v)] = parse_mrange(one + b"$4\r\ntail\r\n", len(one), compiled=compiled)
    assert (key, t.tolist(), v.tolist()) == ("k", [5], [2.5])
    with pytest.raises(Unusual):  # a reply cut short is not completed by the bytes after it
        parse_mrange(one, len(one) - 3, compiled=compiled)


@pytest.mark.parametrize("compiled", READERS)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_slices_are_joined_per_series(compiled: bool, data: st.DataObject) -> None:
    """Slices that list the first one's series (in any order, some left out) join into each
    series' samples in slice order; one that lists a new series is left to hiredis."""
    keys = data.draw(KEYS)
    raws = [data.draw(replies(keys))]
    for _ in range(data.draw(st.integers(0, 3))):
        later = data.draw(st.permutations(keys)).copy()
        later = later[: data.draw(st.integers(0, len(later)))]
        if data.draw(st.integers(0, 9)) == 0:
            later.append(data.draw(st.text(min_size=1, max_size=12)))
        raws.append(data.draw(replies(list(dict.fromkeys(later)), with_labels=False)))
    first = _hiredis(raws[0])
    joined = Joined(len(raws), compiled=compiled)
    expected = {k: ([], []) for k in first}
    new = False
    for raw in raws:
        reply = _hiredis(raw)
        try:
            joined.add(raw)
        except Unusual:
            new = True
            break
        for key, value in reply.items():
            assert key in expected
            expected[key][0].extend(p[0] for p in value[-1])
            expected[key][1].extend(float(p[1]) for p in value[-1])
    assert new == any(k not in first for raw in raws for k in _hiredis(raw))
    if new:
        return
    got = joined.series()
    assert [k for k, *_ in got] == list(first)
    for key, labels, t, v in got:
        assert labels == _as_map(first[key][0])
        assert t.tolist() == expected[key][0]
        assert v.view(np.int64).tolist() == np.array(expected[key][1]).view(np.int64).tolist()


def _hiredis(raw: bytes) -> dict[str, Any]:
    reader = hiredis.Reader(encoding="utf-8")
    reader.feed(raw)
    return _as_map(reader.gets())


@pytest.mark.parametrize(
    "raw",
    [
        b"*0\r\n",  # RESP2
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:1\r\n+x\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*3\r\n:1\r\n,1\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*2\r\n*2\r\n:1\r\n,1\r\n",  # truncated
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:-1\r\n,1\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:1\r\n,abc\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:1\r\n,1e\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:1\r\n,1.5\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:99999999999999999999\r\n,1\r\n",
    ],
)
@pytest.mark.parametrize("compiled", READERS)
def test_other_shapes_are_left_to_hiredis(raw: bytes, compiled: bool) -> None:
    with pytest.raises(Unusual):
        parse_mrange(raw, compiled=compiled)


async def test_real_replies_match_the_hiredis_path(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = connect(redis_url)
    rng = np.random.default_rng(3)
    try:
        for i in range(20):
            key = f"mr:{i}"
            await client.execute_command("TS.CREATE", key, "LABELS", "g", "mr", "i", str(i))
            values = np.concatenate(
                [rng.normal(0, 10.0 ** (i % 7 - 3), 300), rng.integers(-(10**6), 10**6, 50)]
            )
            args: list[object] = []
            for k, value in enumerate(values.tolist()):
                args += [key, 1_700_000_000_000 + 15_000 * k + i, value]
            await client.execute_command("TS.MADD", *args)
        args2 = ("TS.MRANGE", 0, 2**62, "WITHLABELS", "FILTER", "g=mr")
        monkeypatch.setattr(promread, "SLICE_MS", 1_000_000)  # 6 slices of the 100 minutes

        async def no_fallback(*_: object) -> None:
            raise AssertionError("the slices were read again through hiredis")

        with monkeypatch.context() as patched:  # labels from the first slice, samples of all
            patched.setattr(promread, "_command", no_fallback)
            got = await _mrange(client, T, T + 15_000 * 400, ("g=mr",))
        assert len(promread._slices(T, T + 15_000 * 400)) == 6
        twice = await _mrange_raw(client, [args2, args2[:3] + args2[4:]])  # no fallback
        assert len(twice) == 20
        reply = _as_map(await _command(client, *args2))
        assert [k for k, *_ in got] == list(reply)
        for key, labels, t, v in got:
            ref_t, ref_v = _columns(reply[key][-1])
            assert labels == _as_map(reply[key][0])
            assert t.tolist() == ref_t.tolist()
            assert v.view(np.int64).tolist() == ref_v.view(np.int64).tolist()
        for (_, labels, t, v), (_, labels2, t2, v2) in zip(got, twice, strict=True):
            assert labels2 == labels
            assert t2.tolist() == t.tolist() * 2
            assert v2.view(np.int64).tolist() == v.view(np.int64).tolist() * 2
        assert await client.ping()  # the connection is still in a clean state
    finally:
        await client.aclose()
