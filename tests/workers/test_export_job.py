"""export: files that read back to exactly the points, raw or per bucket, in parts."""

import gzip
import io
from collections.abc import Callable

import numpy as np
import pyarrow.parquet as pq
from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit

RNG = np.random.default_rng(11)
AWKWARD = [1 / 3, 1e-300, -0.0, 5e-324, 1.7976931348623157e308, 0.1, -123456789.125, 2.0**53 + 2]


def awkward_points(n: int, start: int, step: int) -> list[list[float]]:
    values = np.concatenate([AWKWARD, RNG.normal(0, 1e6, n - len(AWKWARD))])
    return [[start + i * step, float(v)] for i, v in enumerate(values)]


async def points_of(client: QuartClient, key: str, query: str = "") -> list[list[float]]:
    response = await client.get(f"/v1/series/{key}/points{query}")
    assert response.status_code == 200
    return (await response.get_json())["points"]


async def files_of(client: QuartClient, job_id: str) -> dict[str, bytes]:
    document = await job(client, job_id)
    assert document["status"] == "finished", document
    return {f["name"]: await (await client.get(f["url"])).get_data() for f in document["files"]}


async def test_csv_export_in_parts_round_trips_through_ingest(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "exp:a", awkward_points(1500, 0, 1000), kind="exp")
    await add_series(client, "exp:b", awkward_points(1200, 500, 7), kind="exp")
    before = {k: await points_of(client, k) for k in ("exp:a", "exp:b")}
    plain = await submit(client, "export", filter=["kind=exp"], part_samples=1000)
    zipped = await submit(client, "export", filter=["kind=exp"], compress=True)
    run_worker()

    parts = await files_of(client, plain["id"])
    assert list(parts) == ["export-0001.csv", "export-0002.csv", "export-0003.csv"]
    assert [len(p.splitlines()) - 1 for p in parts.values()] == [1000, 1000, 700]
    assert all(p.startswith(b"key,t,v\n") for p in parts.values())
    result = await (await client.get(f"/v1/jobs/{plain['id']}/result")).get_json()
    assert result["rows"] == 2700
    assert result["series"] == [{"key": "exp:a", "rows": 1500}, {"key": "exp:b", "rows": 1200}]
    (single,) = (await files_of(client, zipped["id"])).values()
    unzipped = gzip.decompress(single)
    assert unzipped == b"key,t,v\n" + b"".join(p.split(b"\n", 1)[1] for p in parts.values())

    for key in before:
        assert (await client.delete(f"/v1/series/{key}")).status_code == 204
    response = await client.post(
        "/v1/points?create=true",
        data=single,
        headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await response.get_json())["written"] == 2700
    for key, points in before.items():
        assert await points_of(client, key) == points


async def test_parquet_export_holds_the_points_with_utc_times(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    points = awkward_points(2500, 1_700_000_000_000, 60_000)
    await add_series(client, "pq", points)
    submitted = await submit(
        client, "export", keys=["pq"], format="parquet", part_samples=1000, **{"from": 0}
    )
    run_worker()
    files = await files_of(client, submitted["id"])
    assert list(files) == ["export-0001.parquet", "export-0002.parquet", "export-0003.parquet"]
    tables = [pq.read_table(io.BytesIO(data)) for data in files.values()]
    assert [t.num_rows for t in tables] == [1000, 1000, 500]
    assert str(tables[0].schema.field("t").type) == "timestamp[ms, tz=UTC]"
    t = np.concatenate([tb.column("t").cast("int64").to_numpy() for tb in tables])
    v = np.concatenate([tb.column("v").to_numpy() for tb in tables])
    assert t.tolist() == [p[0] for p in points]
    assert v.tolist() == [p[1] for p in points]
    assert {k for tb in tables for k in tb.column("key").to_pylist()} == {"pq"}


async def test_bucketed_export_matches_the_aggregated_range(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "bk", [[t * 1000, t % 17] for t in range(3600)])
    submitted = await submit(client, "export", keys=["bk"], agg="max", bucket="5m")
    run_worker()
    (data,) = (await files_of(client, submitted["id"])).values()
    rows = [line.split(",") for line in data.decode().splitlines()[1:]]
    expected = await points_of(client, "bk", "?agg=max&bucket=5m")
    assert [[int(t), float(v)] for _, t, v in rows] == expected
    assert len(expected) == 12


async def test_export_bigger_than_max_samples_is_refused_at_submission(
    client: QuartClient,
) -> None:
    await add_series(client, "big", [[t, 1.0] for t in range(2000)])
    response = await client.post(
        "/v1/jobs", json={"type": "export", "params": {"keys": ["big"], "max_samples": 1999}}
    )
    assert response.status_code == 409
    assert "max_samples" in (await response.get_json())["detail"]
    response = await client.post(
        "/v1/jobs", json={"type": "export", "params": {"keys": ["big"], "agg": "avg"}}
    )
    assert response.status_code == 422
    assert (await (await client.get("/v1/jobs")).get_json())["jobs"] == []
