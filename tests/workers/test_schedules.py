"""Recurring jobs: created through the API, fired by workers, listed and canceled."""

import time
from collections.abc import Callable

from quart.testing import QuartClient

from tests.workers.helpers import add_series, job


async def test_a_due_schedule_runs_once_and_moves_to_its_next_run(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "raw", [[t * 1000, t] for t in range(600)])
    now = int(time.time() * 1000)
    response = await client.post(
        "/v1/schedules",
        json={
            "type": "downsample",
            "params": {"source": "raw", "agg": "avg", "bucket": "1m", "from": "-3650d"},
            "every": "1h",
            "start_at": now - 1000,
        },
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    created = await response.get_json()
    assert response.headers["Location"] == f"/v1/schedules/{created['id']}"
    assert created["next_run"] == now - 1000
    assert created["params"]["from"] == "-3650d"  # relative times are resolved at each run

    run_worker()
    run_worker()  # a second worker finds nothing due: each run is claimed once

    schedule = await (await client.get(f"/v1/schedules/{created['id']}")).get_json()
    assert schedule["runs"] == 1
    assert schedule["last_error"] is None
    assert schedule["next_run"] >= now + 3_600_000 - 1000
    ran = await job(client, schedule["last_job"])
    assert ran["status"] == "finished"
    assert ran["type"] == "downsample"
    assert isinstance(ran["params"]["from"], int)
    listed = await (await client.get("/v1/schedules")).get_json()
    assert [s["id"] for s in listed["schedules"]] == [created["id"]]

    assert (await client.delete(f"/v1/schedules/{created['id']}")).status_code == 204
    assert (await client.get(f"/v1/schedules/{created['id']}")).status_code == 404
    assert (await client.delete(f"/v1/schedules/{created['id']}")).status_code == 404


async def test_cron_schedules_and_bad_definitions(client: QuartClient) -> None:
    response = await client.post(
        "/v1/schedules", json={"type": "noop", "params": {}, "cron": "0 3 * * *"}
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert time.gmtime(body["next_run"] / 1000).tm_hour == 3
    for bad in (
        {"type": "noop", "params": {}},
        {"type": "noop", "params": {}, "cron": "0 3 * *", "every": "1h"},
        {"type": "noop", "params": {}, "cron": "at dawn"},
        {"type": "noop", "params": {}, "every": "1s"},
        {"type": "noop", "params": {"seconds": -1}, "every": "1h"},
        {"type": "rm -rf", "params": {}, "every": "1h"},
        {"type": "plot", "params": {"keys": ["missing"]}, "every": "1h"},
    ):
        response = await client.post("/v1/schedules", json=bad)
        assert response.status_code in (404, 422), bad
        assert response.mimetype == "application/problem+json"
