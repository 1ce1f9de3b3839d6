"""Small helpers for job tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from quart.testing import QuartClient


async def submit(client: QuartClient, job_type: str, **params: Any) -> dict[str, Any]:
    response = await client.post("/v1/jobs", json={"type": job_type, "params": params})
    assert response.status_code == 202, await response.get_data(as_text=True)
    body = await response.get_json()
    assert response.headers["Location"] == f"/v1/jobs/{body['id']}"
    return body


async def job(client: QuartClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


async def wait_status(
    client: QuartClient, job_id: str, statuses: set[str], within: float = 60
) -> dict[str, Any]:
    """Poll a job (for tests with a worker running in the background) until it gets there."""
    deadline = time.monotonic() + within
    while True:
        document = await job(client, job_id)
        if document["status"] in statuses:
            return document
        assert time.monotonic() < deadline, f"job stuck in {document['status']}: {document}"
        await asyncio.sleep(0.1)


async def add_series(
    client: QuartClient, key: str, points: list[list[float]], **labels: str
) -> None:
    response = await client.post("/v1/series", json={"key": key, "labels": labels})
    assert response.status_code == 201
    for start in range(0, len(points), 50_000):
        chunk = points[start : start + 50_000]
        response = await client.post(f"/v1/series/{key}/points", json=chunk)
        assert response.status_code == 200, await response.get_data(as_text=True)
