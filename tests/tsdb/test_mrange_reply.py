"""TS.MRANGE replies parsed by numpy (tsdb.mrange_reply) against hiredis: the same keys,
labels, timestamps and value bits, for hand-made RESP3 bytes of every double spelling and
for real replies of a Redis Stack."""

from __future__ import annotations

import math
import struct

import hiredis
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsdb import promread
from tsdb.connection import connect
from tsdb.mrange_reply import Unusual, parse_mrange
from tsdb.promread import _as_map, _columns, _command, _mrange, _mrange_raw

T = 1_700_000_000_000
DOUBLE_TEXT = st.one_of(
    st.floats(allow_nan=False).map(repr),
    st.floats(allow_nan=False).map(lambda v: f"{v:.17g}"),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["inf", "-inf", "nan", "-0", "0", "1e+20", "1.5e-300", "-12.5", "0.1"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)


def _bulk(text: str) -> bytes:
    raw = text.encode()
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    keys = draw(st.lists(st.text(min_size=1, max_size=12), max_size=5, unique=True))
    out = [b"%%%d\r\n" % len(keys)]
    for key in keys:
        out.append(_bulk(key) + b"*3\r\n")
        labels = draw(st.dictionaries(st.text(max_size=8), st.none() | st.text(max_size=8)))
        out.append(b"%%%d\r\n" % len(labels))
        for name, value in labels.items():
            out.append(_bulk(name) + (b"_\r\n" if value is None else _bulk(value)))
        out.append(b"%1\r\n" + _bulk("aggregators") + b"*0\r\n")
        stamps = draw(st.lists(st.integers(0, 2**53), max_size=30))
        out.append(b"*%d\r\n" % len(stamps))
        for t in stamps:
            out.append(b"*2\r\n:%d\r\n,%s\r\n" % (t, draw(DOUBLE_TEXT).encode()))
    return b"".join(out)


def _same(raw: bytes) -> None:
    reader = hiredis.Reader(encoding="utf-8")
    reader.feed(raw)
    expected = _as_map(reader.gets())
    got = parse_mrange(raw)
    assert [k for k, *_ in got] == list(expected)
    for key, labels, t, v in got:
        ref_t, ref_v = _columns(expected[key][-1])
        assert labels == _as_map(expected[key][0])
        assert t.dtype == np.int64 and v.dtype == np.float64
        assert t.tolist() == ref_t.tolist()
        assert len(v) == len(ref_v)
        for a, b in zip(v.tolist(), ref_v.tolist(), strict=True):
            assert (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)


@settings(max_examples=300, deadline=None)
@given(replies())
def test_hand_made_replies_parse_as_hiredis_does(raw: bytes) -> None:
    _same(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"*0\r\n",  # RESP2
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:1\r\n+x\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*3\r\n:1\r\n,1\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*2\r\n*2\r\n:1\r\n,1\r\n",  # truncated
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:-1\r\n,1\r\n",
        b"%1\r\n$1\r\nk\r\n*3\r\n%0\r\n%0\r\n*1\r\n*2\r\n:1\r\n,abc\r\n",
    ],
)
def test_other_shapes_are_left_to_hiredis(raw: bytes) -> None:
    with pytest.raises(Unusual):
        parse_mrange(raw)


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
        monkeypatch.setattr(promread, "SLICE_MS", 1_000_000)  # 4 slices of the 90 minutes

        async def no_fallback(*_: object) -> None:
            raise AssertionError("the slices were read again through hiredis")

        with monkeypatch.context() as patched:  # labels from the first slice, samples of all
            patched.setattr(promread, "_command", no_fallback)
            got = await _mrange(client, T, T + 15_000 * 400, ("g=mr",))
        assert len(promread._slices(T, T + 15_000 * 400)) == 4
        parts = await _mrange_raw(client, [args2, args2])  # the numpy path, no fallback
        assert [len(p) for p in parts] == [20, 20]
        reply = _as_map(await _command(client, *args2))
        assert [k for k, *_ in got] == list(reply)
        for key, labels, t, v in got:
            ref_t, ref_v = _columns(reply[key][-1])
            assert labels == _as_map(reply[key][0])
            assert t.tolist() == ref_t.tolist()
            assert v.view(np.int64).tolist() == ref_v.view(np.int64).tolist()
        assert await client.ping()  # the connection is still in a clean state
    finally:
        await client.aclose()
