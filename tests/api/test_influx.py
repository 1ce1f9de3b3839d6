"""InfluxDB compatibility: /api/v2/write, /write and /ping, and the real influxdb-client."""

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from quart import Quart
from quart.testing import QuartClient

from tests.conftest import free_port, stop_process
from tests.test_server import start_api, wait_healthy

AUTH = {"Authorization": "Token anything"}


async def series_with(client: QuartClient, *filters: str) -> list[dict]:
    query = "&".join(f"filter={f}" for f in filters)
    response = await client.get(f"/v1/series?{query}")
    return (await response.get_json())["series"]


async def points_of(client: QuartClient, key: str) -> list[list[float]]:
    return (await (await client.get(f"/v1/series/{key}/points")).get_json())["points"]


async def test_v2_write_is_204_and_labels_series_with_the_bucket(client: QuartClient) -> None:
    body = (
        b"cpu,host=a usage=1.5,idle=98i 1700000000000000000\n"
        b"cpu,host=a usage=2 1700000001000000000\n"
    )
    response = await client.post("/api/v2/write?org=o&bucket=metrics", data=body, headers=AUTH)
    assert response.status_code == 204
    assert await response.get_data() == b""
    (usage,) = await series_with(client, "measurement=cpu", "field=usage")
    assert usage["labels"] == {
        "host": "a",
        "measurement": "cpu",
        "field": "usage",
        "bucket": "metrics",
    }
    assert await points_of(client, usage["key"]) == [[1700000000000, 1.5], [1700000001000, 2.0]]
    (idle,) = await series_with(client, "field=idle")
    assert await points_of(client, idle["key"]) == [[1700000000000, 98.0]]


async def test_buckets_and_tag_sets_are_separate_series(client: QuartClient) -> None:
    for bucket, host in (("one", "a"), ("two", "a"), ("one", "b")):
        body = f"cpu,host={host} usage=1 1\n".encode()
        response = await client.post(f"/api/v2/write?bucket={bucket}&precision=s", data=body)
        assert response.status_code == 204
    assert len(await series_with(client, "measurement=cpu")) == 3
    assert len(await series_with(client, "bucket=one")) == 2


async def test_precision_and_gzip(client: QuartClient) -> None:
    for precision, stamp in (("ns", 5_000_000), ("us", 5_000), ("ms", 5), ("s", 1)):
        body = gzip.compress(f"p_{precision} v=1 {stamp}\n".encode())
        response = await client.post(
            f"/api/v2/write?bucket=b&precision={precision}",
            data=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
        )
        assert response.status_code == 204, precision
        (series,) = await series_with(client, f"measurement=p_{precision}")
        assert (await points_of(client, series["key"]))[0][0] == (1000 if precision == "s" else 5)


async def test_escaping_rules_of_line_protocol(client: QuartClient) -> None:
    body = (
        rb'my\ measurement,tag\ key=tag\,value,eq\=k=v\=1 field\ one=1,str="a \"quoted\" string" 1'
        b"\n"
    )
    response = await client.post("/api/v2/write?bucket=b&precision=s", data=body)
    assert response.status_code == 400  # the string field is reported...
    (series,) = await series_with(client, "measurement=my measurement")  # ...the number written
    assert series["labels"]["field"] == "field one"
    assert series["labels"]["tag_key"] == "tag_value"  # ',' is not allowed in label values
    assert series["labels"]["eq_k"] == "v_1"
    assert await points_of(client, series["key"]) == [[1000, 1.0]]


async def test_partial_write_is_400_in_influxdb_shape(client: QuartClient) -> None:
    body = b'm v=1 1\nm v= 2\nm,t v=3 3\nm s="x" 4\n'
    response = await client.post("/api/v2/write?bucket=b&precision=s", data=body)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    error = await response.get_json()
    assert error["code"] == "invalid"
    assert error["message"].startswith("partial write error (1 written): line 2: unable to parse")
    assert error["line"] == 2
    assert error["rejected_count"] == 3
    assert "error" not in error


async def test_v1_write_uses_db_and_rp_and_adds_error(client: QuartClient) -> None:
    response = await client.post(
        "/write?db=telegraf&rp=weekly&precision=s&u=x&p=y", data=b"mem used=5 1\n"
    )
    assert response.status_code == 204
    (series,) = await series_with(client, "measurement=mem")
    assert series["labels"]["bucket"] == "telegraf/weekly"
    response = await client.post("/write?db=telegraf&precision=m", data=b"mem used=6 1\n")
    assert response.status_code == 204
    bad = await client.post("/write?db=telegraf", data=b"garbage\n")
    error = await bad.get_json()
    assert bad.status_code == 400
    assert error["error"] == error["message"]
    missing = await client.post("/write", data=b"mem used=5 1\n")
    assert missing.status_code == 400
    assert (await missing.get_json())["error"] == "database is required"


async def test_influx_errors_for_parameters_and_limits(client: QuartClient, app: Quart) -> None:
    response = await client.post("/api/v2/write?org=o", data=b"m v=1\n")
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "invalid"
    response = await client.post("/api/v2/write?bucket=b&precision=h", data=b"m v=1\n")
    assert response.status_code == 400
    assert "precision" in (await response.get_json())["message"]
    empty = await client.post("/api/v2/write?bucket=b", data=b"")
    assert (await empty.get_json())["message"] == "writing requires points"
    app.config["MAX_CONTENT_LENGTH"] = 1024
    big = await client.post("/api/v2/write?bucket=b", data=b"m v=1\n" * 500)
    assert big.status_code == 413
    assert (await big.get_json())["code"] == "request too large"


async def test_ping(client: QuartClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 204
    assert response.headers["X-Influxdb-Build"] == "tsapi"


# -- the real client against a real server ------------------------------------------------------


@pytest.fixture
def live_api(redis_url: str) -> Iterator[str]:
    port = free_port()
    process = start_api(redis_url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield base
    finally:
        stop_process(process)


@pytest.mark.parametrize("enable_gzip", [False, True])
def test_influxdb_client_writes_points(live_api: str, enable_gzip: bool) -> None:
    stamp = datetime(2024, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)
    with InfluxDBClient(url=live_api, token="x", org="o", enable_gzip=enable_gzip) as influx:
        assert influx.ping()
        writer = influx.write_api(write_options=SYNCHRONOUS)
        writer.write(
            bucket="metrics",
            record=Point("room").tag("name", "lab 1").field("temp", 21.5).field("n", 3).time(stamp),
        )
        writer.write(
            bucket="metrics",
            record=[
                "room,name=lab\\ 1 temp=22.25 1706702460123000000",
                Point("room")
                .tag("name", "lab 1")
                .field("temp", 23.0)
                .time(1706702520, WritePrecision.S),
            ],
        )
        with pytest.raises(ApiException) as failure:
            writer.write(bucket="metrics", record="room,name=x temp=oops 1")
        assert failure.value.status == 400
        assert "unable to parse" in str(failure.value.body)
    with httpx.Client(base_url=live_api, timeout=10) as http:
        listed = http.get(
            "/v1/series", params={"filter": ["measurement=room", "field=temp"]}
        ).json()
        (series,) = listed["series"]
        assert series["labels"] == {
            "name": "lab 1",
            "measurement": "room",
            "field": "temp",
            "bucket": "metrics",
        }
        points = http.get(f"/v1/series/{series['key']}/points").json()["points"]
        assert points == [[1706702400123, 21.5], [1706702460123, 22.25], [1706702520000, 23.0]]
