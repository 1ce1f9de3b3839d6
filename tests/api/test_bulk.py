"""POST /v1/points: many series at once, as JSON, CSV or line protocol, against a real Redis."""

import gzip
import itertools
import math
import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart
from quart.testing import QuartClient

from api.app import create_app
from api.ingest.blocks import BLOCK_BYTES
from api.ingest.body import (
    HIGH_WATER_BYTES,
    StreamingBody,
    StreamingHTTPConnection,
    StreamingRequest,
)
from core.settings import Settings
from tests.conftest import free_port
from tsdb.bulk import Batch, BulkWriter
from tsdb.models import DuplicatePolicy, SeriesConfig
from tsdb.rejections import Rejections
from tsdb.store import TimeSeriesStore

CSV = {"Content-Type": "text/csv"}
LP = {"Content-Type": "text/plain; charset=utf-8"}
GZIP = {"Content-Encoding": "gzip"}
_counter = itertools.count()


async def make(client: QuartClient, *keys: str, **options: object) -> None:
    for key in keys:
        response = await client.post("/v1/series", json={"key": key, **options})
        assert response.status_code == 201


async def points_of(client: QuartClient, key: str) -> list[list[float]]:
    response = await client.get(f"/v1/series/{key}/points")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return (await response.get_json())["points"]


async def post(client: QuartClient, body: object, query: str = "", headers: dict | None = None):
    if isinstance(body, bytes | str):
        return await client.post(f"/v1/points{query}", data=body, headers=headers or {})
    return await client.post(f"/v1/points{query}", json=body, headers=headers or {})


# -- JSON ---------------------------------------------------------------------------------------


async def test_json_rows_write_many_series(client: QuartClient) -> None:
    await make(client, "a", "b")
    body = [{"key": "a", "t": 2000, "v": 2}, {"key": "b", "t": 1000, "v": 1.5}]
    body.append({"key": "a", "t": "1970-01-01T00:00:01Z", "v": 1})
    response = await post(client, body)
    assert response.status_code == 200
    assert await response.get_json() == {"written": 3, "series": 2, "created": 0}
    assert await points_of(client, "a") == [[1000, 1.0], [2000, 2.0]]
    assert await points_of(client, "b") == [[1000, 1.5]]


async def test_json_object_of_series_takes_pairs_and_objects(client: QuartClient) -> None:
    await make(client, "a", "b")
    body = {"a": [[1, 1], [2, 2]], "b": [{"t": 3, "v": 3}, [4, 4.5]]}
    response = await post(client, body)
    assert (await response.get_json())["written"] == 4
    assert await points_of(client, "b") == [[3, 3.0], [4, 4.5]]


async def test_json_columnar_one_series_or_a_list(client: QuartClient) -> None:
    await make(client, "a", "b")
    one = {"key": "a", "t": list(range(0, 5000, 1000)), "v": [0, 1, 2, 3, 4]}
    assert (await (await post(client, one)).get_json())["written"] == 5
    many = [{"key": "a", "t": [9000], "v": [9]}, {"key": "b", "t": [1, 2], "v": [0.5, 0.25]}]
    assert (await (await post(client, many)).get_json())["written"] == 3
    assert [p[1] for p in await points_of(client, "a")] == [0, 1, 2, 3, 4, 9]
    assert await points_of(client, "b") == [[1, 0.5], [2, 0.25]]


async def test_columnar_labels_and_label_params_go_to_created_series(client: QuartClient) -> None:
    body = [
        {"key": "new:1", "t": [1], "v": [1], "labels": {"room": "a"}},
        {"key": "new:2", "t": [1], "v": [2]},
    ]
    response = await post(client, body, "?create=true&label=site=hq&label=kind=temp")
    assert await response.get_json() == {"written": 2, "series": 2, "created": 2}
    one = await (await client.get("/v1/series/new:1")).get_json()
    two = await (await client.get("/v1/series/new:2")).get_json()
    assert one["labels"] == {"site": "hq", "kind": "temp", "room": "a"}
    assert two["labels"] == {"site": "hq", "kind": "temp"}
    again = await post(client, body, "?create=true")
    assert (await again.get_json())["created"] == 0


async def test_label_param_values_are_kept_as_given(client: QuartClient) -> None:
    """A value of spaces matches the document's pattern: it is stored, not trimmed to nothing
    and refused (schemathesis found `label=a=+`, a value of one space, answered 422)."""
    body = [{"key": "sp:1", "t": 1, "v": 1}]
    response = await post(client, body, "?create=true&label=blank=+&label=city=+austin")
    assert response.status_code == 200, await response.get_data(as_text=True)
    shown = await (await client.get("/v1/series/sp:1")).get_json()
    assert shown["labels"] == {"blank": " ", "city": " austin"}


async def test_bad_label_params_are_422(client: QuartClient) -> None:
    for query in ("?create=true&label=nameonly", "?create=true&label=a=(x)", "?create=true&x=1"):
        response = await post(client, [{"key": "k", "t": 1, "v": 1}], query)
        assert response.status_code == 422, query
        assert response.mimetype == "application/problem+json"


async def test_json_partial_write_names_each_rejected_point(client: QuartClient) -> None:
    await make(client, "a")
    body = [
        {"key": "a", "t": 1, "v": 1},
        {"key": "a", "t": 2, "v": "x"},
        {"key": "a", "t": "soon", "v": 1},
        {"key": "a", "t": 3, "v": True},
        {"key": "missing", "t": 4, "v": 4},
        {"key": "bad key!", "t": 5, "v": 5},
        {"key": "a", "t": 6},
        {"key": "a", "t": 7, "v": 7, "extra": 1},
        "nonsense",
        {"key": "a", "t": 8, "v": 8},
    ]
    response = await post(client, body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = await response.get_json()
    assert problem["written"] == 2
    assert problem["rejected_count"] == 8
    assert [r["index"] for r in problem["rejected"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    reasons = {r["index"]: r["reason"] for r in problem["rejected"]}
    assert reasons[1] == "value must be a number"
    assert "not a timestamp" in reasons[2]
    assert reasons[4] == "series does not exist"
    assert "may only hold" in reasons[5]
    assert reasons[6] == "missing value"
    assert problem["rejected"][0] == {"index": 1, "key": "a", "t": 2, "reason": reasons[1]}
    assert await points_of(client, "a") == [[1, 1.0], [8, 8.0]]


async def test_unknown_series_without_create_are_rejected_not_created(client: QuartClient) -> None:
    response = await post(client, {"key": "ghost", "t": [1, 2], "v": [1, 2]})
    assert response.status_code == 409  # the request is valid; the data refuses it
    assert (await response.get_json())["type"].endswith(":points-conflict")
    problem = await response.get_json()
    assert problem["written"] == 0
    assert {r["reason"] for r in problem["rejected"]} == {"series does not exist"}
    assert (await client.get("/v1/series/ghost")).status_code == 404


async def test_atomic_writes_nothing_when_anything_is_invalid(client: QuartClient) -> None:
    await make(client, "a")
    body = [{"key": "a", "t": 1, "v": 1}, {"key": "a", "t": 2, "v": None}]
    response = await post(client, body, "?atomic=true")
    assert response.status_code == 422
    problem = await response.get_json()
    assert problem["written"] == 0
    assert problem["atomic"] is True
    assert "nothing was written" in problem["detail"]
    unknown = await post(
        client, [{"key": "a", "t": 1, "v": 1}, {"key": "b", "t": 1, "v": 1}], "?atomic=true"
    )
    assert unknown.status_code == 409
    assert (await unknown.get_json())["rejected"][0]["reason"] == "series does not exist"
    assert await points_of(client, "a") == []
    fine = await post(client, [{"key": "a", "t": 1, "v": 1}], "?atomic=true")
    assert await fine.get_json() == {"written": 1, "series": 1, "created": 0}


async def test_atomic_checks_duplicates_and_retention_before_writing(client: QuartClient) -> None:
    await make(client, "blk", duplicate_policy="block")
    await make(client, "ret", retention=1000)
    await post(client, [{"key": "blk", "t": 5, "v": 5}, {"key": "ret", "t": 10_000, "v": 1}])
    clash = await post(
        client, [{"key": "blk", "t": 6, "v": 6}, {"key": "blk", "t": 5, "v": 50}], "?atomic=true"
    )
    assert clash.status_code == 409
    assert [r["index"] for r in (await clash.get_json())["rejected"]] == [1]
    twice = await post(client, {"key": "blk", "t": [7, 7], "v": [1, 2]}, "?atomic=true")
    assert twice.status_code == 409
    old = await post(
        client, [{"key": "ret", "t": 100, "v": 1}, {"key": "blk", "t": 8, "v": 8}], "?atomic=true"
    )
    assert old.status_code == 409
    assert "retention" in (await old.get_json())["rejected"][0]["reason"]
    assert await points_of(client, "blk") == [[5, 5.0]]
    created = await post(
        client, {"key": "fresh", "t": [1, 1], "v": [1, 2]}, "?atomic=true&create=true"
    )
    assert created.status_code == 200  # tsapi's default policy: the last value wins
    assert await points_of(client, "fresh") == [[1, 2.0]]


async def test_duplicates_blocked_without_atomic_are_409_with_the_rest_written(
    client: QuartClient,
) -> None:
    await make(client, "blk", duplicate_policy="block")
    await post(client, [{"key": "blk", "t": 1, "v": 1}])
    response = await post(client, {"key": "blk", "t": [1, 2], "v": [10, 2]})
    assert response.status_code == 409
    problem = await response.get_json()
    assert problem["written"] == 1
    assert problem["rejected"] == [
        {
            "index": 0,
            "key": "blk",
            "t": 1,
            "v": 10.0,
            "reason": "duplicate timestamp blocked by the series' duplicate policy",
        }
    ]


async def test_nan_infinity_and_fractional_timestamps_are_rejected(client: QuartClient) -> None:
    await make(client, "a")
    raw = b'{"key": "a", "t": [1, 2.5, 3, 4], "v": [1, 2, 1e999, 4]}'
    response = await post(client, raw, headers={"Content-Type": "application/json"})
    problem = await response.get_json()
    assert response.status_code in (400, 422)
    if response.status_code == 422:
        assert [r["index"] for r in problem["rejected"]] == [1, 2]
        assert await points_of(client, "a") == [[1, 1.0], [4, 4.0]]


async def test_the_rejected_list_is_capped_with_a_total_count(client: QuartClient) -> None:
    body = {"key": "nowhere", "t": list(range(2500)), "v": [1.0] * 2500}
    response = await post(client, body)
    problem = await response.get_json()
    assert problem["rejected_count"] == 2500
    assert len(problem["rejected"]) == 1000
    assert [r["index"] for r in problem["rejected"][:3]] == [0, 1, 2]


async def test_malformed_json_is_400_and_odd_shapes_422(client: QuartClient) -> None:
    response = await post(client, b"[{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    for body in ([], 5, {"key": "a", "t": [1], "v": [1, 2]}, {"a": 5}):
        response = await post(client, body)
        assert response.status_code == 422, body
        assert response.mimetype == "application/problem+json"


async def test_unknown_content_type_and_encoding_are_415(client: QuartClient) -> None:
    response = await post(client, b"x", headers={"Content-Type": "application/xml"})
    assert response.status_code == 415
    response = await post(client, b"x", headers={**CSV, "Content-Encoding": "br"})
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


async def test_gzip_json(client: QuartClient) -> None:
    await make(client, "a")
    body = gzip.compress(orjson.dumps({"key": "a", "t": [1, 2], "v": [1, 2]}))
    response = await post(client, body, headers={"Content-Type": "application/json", **GZIP})
    assert (await response.get_json())["written"] == 2
    broken = await post(client, b"not gzip", headers={"Content-Type": "application/json", **GZIP})
    assert broken.status_code == 400
    truncated = await post(client, body[:-10], headers={"Content-Type": "application/json", **GZIP})
    assert truncated.status_code == 400


# -- CSV ----------------------------------------------------------------------------------------


async def test_csv_long_form_with_epoch_and_iso_times(client: QuartClient) -> None:
    await make(client, "a", "b")
    body = (
        "key,t,v\na,1000,1.5\nb,1970-01-01T00:00:02Z,2\r\n\na,1970-01-01T00:00:03.250+00:00,-3e2\n"
    )
    response = await post(client, body, headers=CSV)
    assert await response.get_json() == {"written": 3, "series": 2, "created": 0}
    assert await points_of(client, "a") == [[1000, 1.5], [3250, -300.0]]
    assert await points_of(client, "b") == [[2000, 2.0]]


async def test_csv_wide_form_skips_empty_cells(client: QuartClient) -> None:
    body = "t,a,b\n1000,1,\n2000,,2\n3000,3,3\n"
    response = await post(client, body, "?create=true", CSV)
    assert await response.get_json() == {"written": 4, "series": 2, "created": 2}
    assert await points_of(client, "a") == [[1000, 1.0], [3000, 3.0]]
    assert await points_of(client, "b") == [[2000, 2.0], [3000, 3.0]]


async def test_csv_partial_write_reports_line_numbers(client: QuartClient) -> None:
    await make(client, "a")
    body = "key,t,v\na,1,1\na,2,abc\na,3\na,,4\nzz,5,5\na,6,6\n"
    response = await post(client, body, headers=CSV)
    assert response.status_code == 422
    problem = await response.get_json()
    assert problem["written"] == 2
    assert [(r["line"], r["reason"]) for r in problem["rejected"]] == [
        (3, "value must be a number"),
        (4, "expected 3 columns, found 2"),
        (5, "missing timestamp"),
        (6, "series does not exist"),
    ]


async def test_csv_atomic_and_gzip(client: QuartClient) -> None:
    await make(client, "a")
    bad = gzip.compress(b"key,t,v\na,1,1\na,2,x\n")
    response = await post(client, bad, "?atomic=true", {**CSV, **GZIP})
    assert response.status_code == 422
    assert await points_of(client, "a") == []
    good = gzip.compress(b"key,t,v\na,1,1\na,2,2\n")
    response = await post(client, good, "?atomic=true", {**CSV, **GZIP})
    assert (await response.get_json())["written"] == 2


async def test_csv_without_a_known_header_is_422(client: QuartClient) -> None:
    for body in ("a,1,1\n", "key,t,v,w\na,1,1,1\n", "t,a,a\n1,1,1\n", ""):
        response = await post(client, body, headers=CSV)
        assert response.status_code == 422, body


async def test_a_large_csv_is_streamed_in_blocks_with_exact_line_numbers(
    client: QuartClient,
) -> None:
    await make(client, "big")
    lines = [f"big,{t},{t % 97}.5" for t in range(1, 150_001)]
    lines[149_000] = "big,oops,1"
    body = ("key,t,v\n" + "\n".join(lines) + "\n").encode()
    assert len(body) > BLOCK_BYTES
    response = await post(client, body, headers=CSV)
    problem = await response.get_json()
    assert problem["written"] == 149_999
    assert problem["rejected"][0]["line"] == 149_002
    info = await (await client.get("/v1/series/big")).get_json()
    assert info["total_samples"] == 149_999


# -- line protocol ------------------------------------------------------------------------------


async def test_line_protocol_creates_labelled_series(client: QuartClient) -> None:
    body = (
        "weather,city=austin temp=21.5,hum=40i 1700000000\nweather,city=austin temp=22 1700000060\n"
    )
    response = await post(client, body, "?precision=s&label=src=lp", LP)
    assert await response.get_json() == {"written": 3, "series": 2, "created": 2}
    listed = await (
        await client.get("/v1/series?filter=measurement=weather&filter=field=temp")
    ).get_json()
    (series,) = listed["series"]
    assert series["key"].startswith("weather:temp:")
    assert series["labels"] == {
        "city": "austin",
        "measurement": "weather",
        "field": "temp",
        "src": "lp",
    }
    assert await points_of(client, series["key"]) == [[1700000000000, 21.5], [1700000060000, 22.0]]


async def test_line_protocol_reports_bad_lines_and_non_numeric_fields(client: QuartClient) -> None:
    body = b'm v=1 1\nm v=oops 2\nm ok=true,s="text",v=3 3\n\n# comment\nm 4\n'
    response = await post(client, body, "?precision=ms", LP)
    assert response.status_code == 422
    problem = await response.get_json()
    assert problem["written"] == 2
    assert [r["line"] for r in problem["rejected"]] == [2, 3, 3, 6]
    assert "boolean" in problem["rejected"][1]["reason"]
    assert await points_of(client, "m:v") == [[1, 1.0], [3, 3.0]]


async def test_line_protocol_gzip_and_atomic(client: QuartClient) -> None:
    body = gzip.compress(b"m v=1 1000000\nm v=2 2000000\nm,bad\n")
    response = await post(client, body, "?atomic=true", {**LP, **GZIP})
    assert response.status_code == 422
    assert (await client.get("/v1/series/m:v")).status_code == 404
    body = gzip.compress(b"m v=1 1000000\nm v=2 2000000\n")
    response = await post(client, body, "?atomic=true", {**LP, **GZIP})
    assert (await response.get_json())["written"] == 2
    assert await points_of(client, "m:v") == [[1, 1.0], [2, 2.0]]


async def test_line_protocol_last_write_wins_like_influxdb(client: QuartClient) -> None:
    await post(client, "m v=1 5\nm v=2 5\n", "?precision=ms", LP)
    await post(client, "m v=3 5\n", "?precision=ms", LP)
    assert await points_of(client, "m:v") == [[5, 3.0]]


async def test_bad_precision_is_422(client: QuartClient) -> None:
    response = await post(client, "m v=1 1\n", "?precision=h", LP)
    assert response.status_code == 422


# -- limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoded", [False, True])
@pytest.mark.parametrize("kind", ["json", "csv", "lp"])
async def test_bodies_over_the_limit_are_413(
    client: QuartClient, app: Quart, kind: str, encoded: bool
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    rows = range(200)
    body, headers = {
        "json": (
            orjson.dumps([{"key": "a", "t": t, "v": 1} for t in rows]),
            {"Content-Type": "application/json"},
        ),
        "csv": (("key,t,v\n" + "".join(f"a,{t},1\n" for t in rows)).encode(), CSV),
        "lp": ("".join(f"m v=1 {t}\n" for t in rows).encode(), LP),
    }[kind]
    if encoded:  # small on the wire, over the limit once decoded
        body, headers = gzip.compress(body), {**headers, **GZIP}
        assert len(body) < 1024
    response = await post(client, body, "?create=true", headers)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


async def test_a_streamed_body_over_the_limit_keeps_what_was_written(
    client: QuartClient, app: Quart
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 2 * BLOCK_BYTES + BLOCK_BYTES // 2
    body = "key,t,v\n" + "".join(f"s,{t},1.25\n" for t in range(1, 300_001))
    assert len(body) > 3 * BLOCK_BYTES
    response = await post(client, gzip.compress(body.encode()), "?create=true", {**CSV, **GZIP})
    assert response.status_code == 413
    problem = await response.get_json()
    assert problem["written"] > 0
    info = await (await client.get("/v1/series/s")).get_json()
    assert info["total_samples"] == problem["written"]


# -- the writer on its own ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [True, False])
async def test_writer_sorts_creates_and_maps_errors_back(store: TimeSeriesStore, raw: bool) -> None:
    """The raw RESP path and the redis-py pipeline path (used on clusters) agree."""
    import numpy as np

    await store.create("w:block", SeriesConfig(duplicate_policy=DuplicatePolicy.BLOCK))
    await store.client.execute_command("TS.ADD", "w:block", 5, 5)
    keys = ["w:new", "w:block", "bad key"]
    batch = Batch(
        keys,
        np.array([0, 1, 0, 1, 2], dtype=np.int64),
        np.array([30, 5, 10, 6, 1], dtype=np.int64),
        np.array([3.0, 50.0, 1.0, 6.0, 0.0]),
        np.array([0, 1, 2, 3, 4], dtype=np.int64),
        {"w:new": {"a": "b"}},
    )
    rejections = Rejections("index")
    async with BulkWriter(store.client, rejections, create=True, madd_samples=1, raw=raw) as writer:
        await writer.write(batch)
        summary = await writer.finish()
    assert (summary.written, summary.created, summary.series) == (3, 1, 2)
    assert [(r.pos, r.reason[:20]) for r in rejections.items] == [
        (1, "duplicate timestamp "),
        (4, "key 'bad key' may on"),
    ]
    assert await store.client.execute_command("TS.RANGE", "w:new", "-", "+") == [
        [10, 1.0],
        [30, 3.0],
    ]
    assert (await store.info("w:new")).labels == {"a": "b"}


# -- one body, three formats, the same data -----------------------------------------------------

FIXTURE_OK = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
samples = st.dictionaries(
    st.integers(min_value=0, max_value=2**45), finite, min_size=1, max_size=60
)


@FIXTURE_OK
@given(points=samples)
async def test_csv_line_protocol_and_json_store_identical_data(
    client: QuartClient, points: dict[int, float]
) -> None:
    n = next(_counter)
    items = list(points.items())
    json_key, csv_key, lp_key = f"j{n}", f"c{n}", f"l{n}:v"
    json_body = {"key": json_key, "t": [t for t, _ in items], "v": [v for _, v in items]}
    csv_body = "key,t,v\n" + "".join(f"{csv_key},{t},{v!r}\n" for t, v in items)
    lp_body = "".join(f"l{n} v={v!r} {t}\n" for t, v in items)
    assert (await post(client, json_body, "?create=true")).status_code == 200
    assert (await post(client, csv_body, "?create=true", CSV)).status_code == 200
    assert (await post(client, lp_body, "?precision=ms", LP)).status_code == 200
    expected = [[t, points[t]] for t in sorted(points)]
    for key in (json_key, csv_key, lp_key):
        stored = await points_of(client, key)
        assert stored == expected, key
        assert all(
            math.copysign(1, a[1]) == math.copysign(1, b[1])
            for a, b in zip(stored, expected, strict=True)
        )


# -- back-pressure on a real server -------------------------------------------------------------


def test_streaming_request_classes_keep_the_unread_body_small(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With StreamingRequest/StreamingHTTPConnection the server reads only as fast as we parse."""
    peak = [0]
    append = StreamingBody.append

    def watched(self: StreamingBody, data: bytes) -> None:
        append(self, data)
        peak[0] = max(peak[0], len(self._data))

    monkeypatch.setattr(StreamingBody, "append", watched)
    application = create_app(settings)
    application.request_class = StreamingRequest
    application.asgi_http_class = StreamingHTTPConnection
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)

        def body() -> Iterator[bytes]:
            yield b"key,t,v\n"
            for block in range(40):
                start = block * 20_000
                yield "".join(f"bp,{t},{t % 7}.5\n" for t in range(start, start + 20_000)).encode()

        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/points?create=true",
            content=body(),
            headers=CSV,
            timeout=120,
        )
        assert response.json()["written"] == 800_000
        assert 0 < peak[0] <= 2 * HIGH_WATER_BYTES
    finally:
        server.should_exit = True
        thread.join(10)
