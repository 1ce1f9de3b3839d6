"""anomaly: injected anomalies are found exactly, clean data raises none."""

import csv
import io
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit
from workers.jobs.anomaly import detect

DAY = 86_400_000
HOUR = 3_600_000


def clean(seed: int, n: int, period: int = 600) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 20 + 5 * np.sin(2 * np.pi * np.arange(n) / period) + rng.normal(0, 0.5, n)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(200, 3000),
    where=st.lists(st.floats(0.02, 0.98), min_size=0, max_size=4),
    size=st.floats(8, 50),
    sign=st.sampled_from([-1, 1]),
)
def test_detect_finds_exactly_the_injected_spikes(
    seed: int, n: int, where: list[float], size: float, sign: int
) -> None:
    values = clean(seed, n)
    positions = sorted({int(w * n) for w in where})
    positions = [p for i, p in enumerate(positions) if i == 0 or p - positions[i - 1] > 1]
    values[positions] += sign * size * 0.5
    found = detect(np.arange(n) * 1000, values, window=31, threshold=6)
    assert np.flatnonzero(found.anomalous).tolist() == positions


async def test_injected_anomalies_are_reported_as_intervals_and_written_back(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    n = 5000
    values = clean(3, n)
    values[[700, 2500]] += [6.0, -7.0]  # single points, 12 and 14 sigma
    values[4000:4005] += 9.0  # a run of five
    await add_series(
        client, "sensor:1", [[i * 1000, float(v)] for i, v in enumerate(values)], room="a"
    )
    submitted = await submit(
        client,
        "anomaly",
        keys=["sensor:1"],
        write=True,
        write_labels={"kind": "flags"},
        width=600,
        height=300,
    )
    assert submitted["params"]["write_key"] == "{key}:anomaly"
    run_worker()
    document = await job(client, submitted["id"])
    assert document["status"] == "finished", document
    assert [f["name"] for f in document["files"]] == [
        "anomalies.csv",
        "anomaly.html",
        "anomaly.png",
    ]
    result = await (await client.get(f"/v1/jobs/{submitted['id']}/result")).get_json()
    (series,) = result["series"]
    assert series["point_count"] == n and series["anomalous_points"] == 7
    intervals = series["intervals"]
    assert [(i["start"], i["end"], i["point_count"], i["direction"]) for i in intervals] == [
        (700_000, 700_000, 1, "high"),
        (2_500_000, 2_500_000, 1, "low"),
        (4_000_000, 4_004_000, 5, "high"),
    ]
    assert all(i["score"] > 5 for i in series["intervals"])
    assert series["written_to"] == "sensor:1:anomaly"

    flags = (await (await client.get("/v1/series/sensor:1:anomaly/points")).get_json())["points"]
    expected = np.zeros(n)
    expected[[700, 2500, 4000, 4001, 4002, 4003, 4004]] = 1
    assert [p[1] for p in flags] == expected.tolist()
    info = await (await client.get("/v1/series/sensor:1:anomaly")).get_json()
    assert info["labels"] == {"kind": "flags", "source": "sensor:1", "analysis": "anomaly"}

    text = await (await client.get(f"/v1/jobs/{submitted['id']}/files/anomalies.csv")).get_data()
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert [(r["interval"], r["start_time"]) for r in rows][2] == ("3", "1970-01-01T01:06:40.000Z")
    png = await (await client.get(f"/v1/jobs/{submitted['id']}/files/anomaly.png")).get_data()
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert image.shape == (300, 600, 3)
    red = (abs(image - [0xD6, 0x27, 0x28]).sum(axis=2) < 40).sum()
    assert red > 50  # the anomaly markers are drawn


async def test_clean_series_raise_no_anomaly(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    for seed in range(4):
        values = clean(100 + seed, 6000, period=900)
        await add_series(
            client, f"clean:{seed}", [[i * 1000, float(v)] for i, v in enumerate(values)], g="c"
        )
    submitted = await submit(client, "anomaly", filter=["g=c"], formats=[])
    run_worker()
    result = await (await client.get(f"/v1/jobs/{submitted['id']}/result")).get_json()
    assert [s["point_count"] for s in result["series"]] == [6000] * 4
    assert result["anomalous_points"] == 0
    assert (await job(client, submitted["id"]))["files"][0]["name"] == "anomalies.csv"


async def test_seasonal_method_flags_what_is_unusual_for_the_time_of_day(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    rng = np.random.default_rng(5)
    hours = np.arange(21 * 24)
    values = np.where((hours % 24 >= 8) & (hours % 24 < 18), 10.0, 0.0)
    values += rng.normal(0, 0.3, len(hours))
    night = 10 * 24 + 3  # 03:00 on day 10: a daytime level at night
    values[night] = 10.0
    await add_series(
        client, "load", [[int(h) * HOUR, float(v)] for h, v in zip(hours, values, strict=True)]
    )
    seasonal = await submit(
        client, "anomaly", keys=["load"], method="seasonal", season="1d", bucket="1h", formats=[]
    )
    rolling = await submit(client, "anomaly", keys=["load"], formats=[])
    run_worker()
    found = await (await client.get(f"/v1/jobs/{seasonal['id']}/result")).get_json()
    assert found["season_ms"] == DAY and found["bucket_ms"] == HOUR
    assert [(i["start"], i["direction"]) for i in found["series"][0]["intervals"]] == [
        (night * HOUR, "high")
    ]
    missed = await (await client.get(f"/v1/jobs/{rolling['id']}/result")).get_json()
    assert night * HOUR not in [i["start"] for i in missed["series"][0]["intervals"]]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"keys": ["a"], "method": "seasonal", "bucket": "1h"}, 422),
        ({"keys": ["a"], "method": "seasonal", "bucket": "7m", "season": "1h"}, 422),
        ({"keys": ["a", "b"], "write": True, "write_key": "flags"}, 409),  # job-not-possible
        ({"keys": ["a"], "write": True, "write_key": "{key}"}, 409),
        ({"keys": ["a"], "threshold": 0}, 422),
        ({"keys": ["a"], "max_samples": 10}, 409),  # the data is bigger
    ],
)
async def test_bad_anomaly_params_are_refused(
    client: QuartClient, params: dict, status: int
) -> None:
    await add_series(client, "a", [[t, 1.0] for t in range(20)])
    await add_series(client, "b", [[1, 1.0]])
    response = await client.post("/v1/jobs", json={"type": "anomaly", "params": params})
    assert response.status_code == status, await response.get_data(as_text=True)
