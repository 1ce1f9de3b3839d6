"""The job API: validation before enqueue, listing, results, cancel and failures."""

from collections.abc import Callable

import pytest
from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit


async def job_ids(client: QuartClient, query: str = "") -> list[str]:
    response = await client.get(f"/v1/jobs{query}")
    assert response.status_code == 200
    return [j["id"] for j in (await response.get_json())["jobs"]]


@pytest.mark.parametrize(
    ("body", "status", "title"),
    [
        ({"type": "shell", "params": {}}, 422, "Invalid input"),  # not a type of the document
        ({"type": "plot", "params": {}}, 422, "Invalid input"),
        ({"type": "plot", "params": {"keys": ["s"], "filter": ["a=b"]}}, 422, "Invalid input"),
        ({"type": "plot", "params": {"keys": ["s"], "width": 10}}, 422, "Invalid input"),
        ({"type": "plot", "params": {"keys": ["s"], "colour": "red"}}, 422, "Invalid input"),
        ({"type": "plot", "params": {"keys": ["nope"]}}, 404, "Series not found"),
        (
            {"type": "plot", "params": {"filter": ["city=nowhere"]}},
            404,
            "No series match the filter",
        ),
        ({"type": "plot", "params": {"filter": ["city!=x"]}}, 422, "Invalid input"),
        ({"type": "plot", "params": {"keys": ["s"], "from": 10, "to": 1}}, 422, "Invalid input"),
        ({"type": "plot", "params": {"keys": ["s"], "from": "whenever"}}, 422, "Invalid input"),
        ({"type": "stats", "params": {"keys": ["s"], "percentiles": [101]}}, 422, "Invalid input"),
        (
            {"type": "downsample", "params": {"source": "s", "agg": "avg", "bucket": 0}},
            422,
            "Invalid input",
        ),
        (
            {
                "type": "downsample",
                "params": {"source": "s", "agg": "avg", "bucket": "1m", "dest": "s"},
            },
            422,
            "Invalid input",
        ),
        ({"type": "noop", "params": {"seconds": -1}}, 422, "Invalid input"),
    ],
)
async def test_bad_submissions_are_refused_and_nothing_is_queued(
    client: QuartClient, body: dict, status: int, title: str
) -> None:
    await add_series(client, "s", [[1, 1]], city="austin")
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == status, await response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert (await response.get_json())["title"] == title
    assert await job_ids(client) == []


async def test_job_types_are_listed_with_their_params_schema(client: QuartClient) -> None:
    types = (await (await client.get("/v1/job-types")).get_json())["types"]
    by_name = {t["name"]: t for t in types}
    assert set(by_name) == {
        "plot",
        "downsample",
        "stats",
        "noop",
        "anomaly",
        "correlate",
        "forecast",
        "export",
        "backfill",
    }
    assert "width" in by_name["plot"]["params_schema"]["properties"]
    assert "from" in by_name["plot"]["params_schema"]["properties"]


async def test_list_newest_first_with_filters_and_pages(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    first = await submit(client, "noop")
    second = await submit(client, "noop", fail_with="boom")
    await add_series(client, "s", [[1, 1]])
    third = await submit(client, "stats", keys=["s"])
    assert await job_ids(client) == [third["id"], second["id"], first["id"]]
    assert await job_ids(client, "?type=noop") == [second["id"], first["id"]]
    page = await (await client.get("/v1/jobs?limit=2")).get_json()
    assert [j["id"] for j in page["jobs"]] == [third["id"], second["id"]]
    assert await job_ids(client, f"?cursor={page['next']}") == [first["id"]]
    assert (await (await client.get(f"/v1/jobs?cursor={page['next']}")).get_json())["next"] is None

    run_worker()

    assert await job_ids(client, "?status=failed") == [second["id"]]
    assert await job_ids(client, "?status=finished") == [third["id"], first["id"]]
    failed = await job(client, second["id"])
    assert failed["error"] == "RuntimeError: boom"
    assert failed["attempts"] == 1  # a failure retrying cannot fix is not retried
    assert (await client.get("/v1/jobs?status=lost")).status_code == 422


async def test_results_and_files_of_unfinished_or_unknown_jobs(client: QuartClient) -> None:
    queued = await submit(client, "noop")
    response = await client.get(f"/v1/jobs/{queued['id']}/result")
    assert response.status_code == 409
    assert (await response.get_json())["job_status"] == "queued"
    assert (await client.get(f"/v1/jobs/{queued['id']}/files/plot.png")).status_code == 409
    assert (await client.get("/v1/jobs/no-such-job")).status_code == 404
    assert (await client.get("/v1/jobs/no-such-job/result")).status_code == 404
    assert (await client.post("/v1/jobs/no-such-job/cancel")).status_code == 404


async def test_unknown_file_of_a_finished_job_is_404(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    done = await submit(client, "noop")
    run_worker()
    assert (await job(client, done["id"]))["status"] == "finished"
    assert (await client.get(f"/v1/jobs/{done['id']}/files/plot.png")).status_code == 404
    assert (await client.get(f"/v1/jobs/{done['id']}/files/..%2Fx")).status_code == 404
    result = await (await client.get(f"/v1/jobs/{done['id']}/result")).get_json()
    assert result == {"steps": 1}


async def test_cancel_a_queued_job(client: QuartClient, run_worker: Callable[..., None]) -> None:
    submitted = await submit(client, "noop")
    response = await client.post(f"/v1/jobs/{submitted['id']}/cancel")
    assert response.status_code == 202
    assert (await response.get_json())["status"] == "canceled"
    run_worker()
    document = await job(client, submitted["id"])
    assert document["status"] == "canceled"
    assert document["started_at"] is None
    again = await client.post(f"/v1/jobs/{submitted['id']}/cancel")
    assert again.status_code == 409


async def test_the_old_delete_route_still_cancels_and_points_to_its_successor(
    client: QuartClient,
) -> None:
    submitted = await submit(client, "noop")
    response = await client.delete(f"/v1/jobs/{submitted['id']}")
    assert response.status_code == 202
    assert (await response.get_json())["status"] == "canceled"
    assert (
        response.headers["Link"] == f'</v1/jobs/{submitted["id"]}/cancel>; rel="successor-version"'
    )
    assert (await job(client, submitted["id"]))["status"] == "canceled"  # kept, not removed
    document = await (await client.get("/openapi.json")).get_json()
    assert document["paths"]["/v1/jobs/{job_id}"]["delete"]["deprecated"] is True
