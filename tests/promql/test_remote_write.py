"""Remote-write bodies: real protobuf + snappy (encoded with the same schema), and bad ones."""

from __future__ import annotations

import cramjam
import numpy as np
import pytest

from promql import STALE_NAN, RemoteWriteError, is_stale
from promql.proto import remote_pb2
from promql.remote_write import decode_write_request, encode_write_request


def _body(request: remote_pb2.WriteRequest) -> bytes:
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def test_round_trip_keeps_labels_samples_and_staleness() -> None:
    body = encode_write_request(
        [
            (
                {"__name__": "up", "job": "node", "instance": "a:9100"},
                [1000, 2000, 3000],
                [1.0, 0.0, STALE_NAN],
            ),
            ({"__name__": "temp", "city": "Zürich"}, [1500], [-3.25]),
            ({"__name__": "empty"}, [], []),
        ]
    )
    batch = decode_write_request(body)
    assert batch.labels == [
        {"__name__": "up", "instance": "a:9100", "job": "node"},
        {"__name__": "temp", "city": "Zürich"},
        {"__name__": "empty"},
    ]
    assert batch.offsets.tolist() == [0, 3, 4, 4]
    assert batch.t.dtype == np.int64 and batch.t.tolist() == [1000, 2000, 3000, 1500]
    assert batch.v.dtype == np.float64
    assert is_stale(batch.v).tolist() == [False, False, True, False]
    series = list(batch.series())
    assert series[1][1].tolist() == [1500] and series[1][2].tolist() == [-3.25]
    assert batch.samples == 4 and len(batch) == 3 and batch.ignored == {}


def test_metadata_exemplars_and_histograms_are_counted_and_ignored() -> None:
    request = remote_pb2.WriteRequest()
    ts = request.timeseries.add()
    ts.labels.add(name=b"__name__", value=b"x")
    ts.samples.add(value=1.0, timestamp=5)
    ts.exemplars.append(b"\x0a\x00")
    ts.histograms.append(b"")
    request.metadata.append(b"\x08\x01")
    batch = decode_write_request(_body(request))
    assert batch.ignored == {"exemplars": 1, "histograms": 1, "metadata": 1}
    assert batch.t.tolist() == [5]


def _one(labels: list[tuple[bytes, bytes]]) -> bytes:
    request = remote_pb2.WriteRequest()
    ts = request.timeseries.add()
    for name, value in labels:
        ts.labels.add(name=name, value=value)
    ts.samples.add(value=1.0, timestamp=1)
    return _body(request)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not snappy at all", "snappy"),
        (bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff\xff")), "not a prometheus.WriteRequest"),
        (bytes(cramjam.snappy.compress(b"framed, not block")), "snappy|WriteRequest"),
        (_one([(b"job", b"x")]), "series 0: no __name__ label"),
        (_one([(b"__name__", b"")]), "series 0: no __name__ label"),
        (_one([(b"__name__", b"x"), (b"a", b"1"), (b"a", b"2")]), "label name 'a' is not unique"),
        (_one([(b"__name__", b"x"), (b"", b"1")]), "empty label name"),
        (_one([(b"__name__", b"x"), (b"a\xff", b"1")]), "label name .* is not valid UTF-8"),
        (_one([(b"__name__", b"x"), (b"a", b"\xc3\x28")]), "value of label 'a'"),
    ],
)
def test_bad_bodies(body: bytes, message: str) -> None:
    with pytest.raises(RemoteWriteError, match=message) as info:
        decode_write_request(body)
    assert info.value.error_type == "bad_data"


def test_decompressed_size_limit_is_checked_before_decompressing() -> None:
    body = encode_write_request([({"__name__": "x"}, list(range(1000)), [1.0] * 1000)])
    with pytest.raises(RemoteWriteError, match="larger than the limit"):
        decode_write_request(body, max_decoded_bytes=100)
