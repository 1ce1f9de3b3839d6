"""The asyncio client: the same API as the sync one, against the same real server."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
from pathlib import Path

import pytest
from tsapi_client import AsyncClient, Client, ConnectionFailed, Job, JobFailed, NotFound

from tests.conftest import free_port

T0 = 1706702400000


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_the_async_client_has_every_method_of_the_sync_one_with_the_same_parameters() -> None:
    sync, aio = _public(Client), _public(AsyncClient)
    assert set(aio) == set(sync) - {"close"} | {"aclose"}
    for name, signature in sync.items():
        if name == "close":
            continue
        method = getattr(AsyncClient, name)
        assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name
        assert list(aio[name].parameters) == list(signature.parameters), name


async def test_async_client_writes_reads_and_runs_jobs_concurrently(
    api_url: str, job_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    async with AsyncClient(api_url) as api:
        await asyncio.gather(
            api.create_series("a", {"kind": "x"}), api.create_series("b", {"kind": "x"})
        )
        await api.write_many([("a", T0, 1.0), ("b", T0, 2.0), ("a", T0 + 1000, 3.0)])
        a, b = await asyncio.gather(api.range("a"), api.range("b", agg="sum", bucket="1h"))
        assert a == [(T0, 1.0), (T0 + 1000, 3.0)]
        assert b == [(T0, 2.0)] and b.bucket_ms == 3_600_000
        assert [p async for p in api.iter_range("a", page_size=1)] == a
        assert [s.key for s in await api.query("kind=x")] == ["a", "b"]

        path = tmp_path / "more.csv"
        path.write_text(f"t,a,b\n{T0 + 2000},5,6\n")
        assert (await api.write_file(path)).written == 2

        moves: list[int] = []

        async def record(job: Job) -> None:
            moves.append(job.progress.percent)

        job = await api.wait_job(await api.submit_job("noop", steps=2), on_progress=record)
        assert job.status == "finished" and moves[-1] == 100
        with pytest.raises(JobFailed):
            await api.wait_job(await api.submit_job("noop", fail_with="no"), timeout=30)
        with pytest.raises(NotFound):
            await api.get_series("nope")


async def test_async_client_retries_then_fails_on_an_unreachable_server() -> None:
    async with AsyncClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01) as api:
        with pytest.raises(ConnectionFailed) as caught:
            await api.health()
    assert caught.value.attempts == 3
