"""Jobs that wait for other jobs: a downsample, then a plot of what it wrote."""

from collections.abc import Callable

from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit


async def test_plot_the_output_of_a_downsample(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "raw", [[t * 1000, t % 60] for t in range(3600)])
    first = await submit(client, "downsample", source="raw", agg="max", bucket="5m")
    response = await client.post(
        "/v1/jobs",
        json={
            "type": "plot",
            "params": {"keys": ["raw:max:5m"], "formats": ["html"]},
            "depends_on": [first["id"]],
        },
    )
    assert response.status_code == 202, await response.get_data(as_text=True)
    second = await response.get_json()
    assert second["status"] == "queued"
    assert second["depends_on"] == [first["id"]]
    assert "waiting for" in second["progress"]["message"]
    assert (await job(client, first["id"]))["dependents"] == [second["id"]]

    run_worker()

    done = await job(client, second["id"])
    assert done["status"] == "finished", done
    assert (await job(client, first["id"]))["dependents"] == [second["id"]]  # still listed
    result = await (await client.get(f"/v1/jobs/{second['id']}/result")).get_json()
    assert result["series"] == [{"key": "raw:max:5m", "point_count": 12}]


async def test_a_failed_dependency_cancels_the_waiting_job(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    first = await submit(client, "noop", fail_with="upstream broke")
    response = await client.post(
        "/v1/jobs", json={"type": "noop", "params": {}, "depends_on": [first["id"]]}
    )
    second = await response.get_json()
    run_worker()
    assert (await job(client, first["id"]))["status"] == "failed"
    waiting = await job(client, second["id"])
    assert waiting["status"] == "canceled"
    assert first["id"] in waiting["error"]
    assert "waiting for" not in waiting["progress"]["message"]
    assert waiting["progress"]["message"] == waiting["error"]
    again = await client.post(
        "/v1/jobs", json={"type": "noop", "params": {}, "depends_on": [first["id"]]}
    )
    assert again.status_code == 409
    unknown = await client.post(
        "/v1/jobs", json={"type": "noop", "params": {}, "depends_on": ["nope"]}
    )
    assert unknown.status_code == 404


async def test_chained_jobs_still_check_what_does_not_depend_on_data(client: QuartClient) -> None:
    first = await submit(client, "noop")
    response = await client.post(
        "/v1/jobs",
        json={
            "type": "plot",
            "params": {"keys": ["later"], "from": 5, "to": 1},
            "depends_on": [first["id"]],
        },
    )
    assert response.status_code == 422
