"""Every route of the document under Redis faults, with default settings: an answer (503 or
504 problem+json) within 10 s, fast failure once Redis is known down, recovery by itself.

Faults: Redis refusing connections (stopped), frozen (``SIGSTOP``: it accepts connections
and never answers), and killed in the middle of a streamed read and of a bulk write. The
figures (worst latency per fault, recovery time) are written to
``test-artifacts/fault-walk.json``.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from tsapi_client import Client
from tsapi_client.errors import StreamInterrupted, Unavailable

from api.security.access import KEYS_CHECK_SECONDS
from tests.conftest import free_port, stop_process
from tests.reliability.conftest import start_serve
from tests.reliability.walk import Answer, calls, send
from tsdb.embedded import EmbeddedRedis

pytestmark = pytest.mark.slow

ANSWER_WITHIN = 10.0
FAST = 0.5  # once Redis is known down
RECOVER_WITHIN = 5.0
#: Operations that do not need Redis: they answer as usual during an outage.
WITHOUT_REDIS = {"healthz", "list_job_types"}
FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "fault-walk.json"


@dataclass
class Stand:
    """A Redis and a `tsapi serve` on it (default settings), with some data."""

    redis: EmbeddedRedis
    base: str
    process: object
    path_values: dict[str, str] = field(default_factory=dict)
    figures: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def redis_pid(self) -> int:
        assert self.redis.process is not None
        return self.redis.process.pid


def _seed(http: httpx.Client) -> dict[str, str]:
    created = http.post("/v1/series", json={"key": "temp:austin", "labels": {"city": "austin"}})
    assert created.status_code == 201, created.text
    points = [{"t": 1706702400000 + i * 60_000, "v": 20.0 + i} for i in range(100)]
    assert http.post("/v1/series/temp:austin/points", json=points).status_code == 200
    rule = {"dest": "temp:austin:1h", "agg": "avg", "bucket": "1h"}
    assert http.post("/v1/series/temp:austin/rules", json=rule).status_code == 201
    job = http.post("/v1/jobs", json={"type": "noop", "params": {}})
    assert job.status_code == 202, job.text
    schedule = http.post("/v1/schedules", json={"type": "noop", "params": {}, "every": "1h"})
    assert schedule.status_code == 201, schedule.text
    return {
        "key": "temp:austin",
        "dest": "temp:austin:1h",
        "t": "1706702400000",
        "name": "city",
        "job_id": job.json()["id"],
        "schedule_id": schedule.json()["id"],
        "key_id": "0123456789ab",
    }


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    redis = EmbeddedRedis(
        port=free_port(),
        data_dir=tmp_path_factory.mktemp("fault-redis"),
        appendfsync="always",
        log_to_file=True,
    )
    redis.start()
    process, base = start_serve(redis.url)
    stand = Stand(redis, base, process)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            stand.path_values = _seed(http)
        yield stand
    finally:
        stop_process(process)  # type: ignore[arg-type]
        redis.stop()
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text(json.dumps(stand.figures, indent=2))


def _walk(stand: Stand) -> list[Answer]:
    with httpx.Client(base_url=stand.base) as http:
        document = http.get("/openapi.json").json()
        return [send(http, call) for call in calls(document, stand.path_values)]


def _check_outage(stand: Stand, fault: str, answers: list[Answer]) -> None:
    wrong = [
        f"{a.call.method} {a.call.path}: {a.status} {a.content_type} {a.body[:200]!r}"
        for a in answers
        if a.call.operation not in WITHOUT_REDIS
        and (a.status not in (503, 504) or a.content_type != "application/problem+json")
    ]
    assert not wrong, "\n".join(wrong)
    assert all(a.status == 200 for a in answers if a.call.operation in WITHOUT_REDIS)
    slowest = max(answers, key=lambda a: a.seconds)
    assert slowest.seconds < ANSWER_WITHIN, f"{slowest.call.path} took {slowest.seconds:.1f} s"
    figures = stand.figures.setdefault(fault, {})
    figures["operations"] = len(answers)
    figures["statuses"] = sorted({a.status for a in answers})
    figures["worst_seconds"] = round(slowest.seconds, 3)
    figures["worst_operation"] = slowest.call.operation


def _wait_recovery(stand: Stand, fault: str) -> None:
    started = time.monotonic()
    with httpx.Client(base_url=stand.base, timeout=10) as http:
        while http.get("/v1/series").status_code != 200:
            assert time.monotonic() - started < RECOVER_WITHIN, "the API did not recover"
            time.sleep(0.05)
    stand.figures.setdefault(fault, {})["recovered_seconds"] = round(time.monotonic() - started, 3)


def test_every_operation_is_callable_from_the_documents_examples(stand: Stand) -> None:
    for answer in _walk(stand):
        assert answer.status < 500, (answer.call, answer.body[:300])
        assert answer.status not in (400, 415, 422), (answer.call, answer.body[:300])
    # POST /v1/keys made a key: back to an open server, so that the routes themselves (not
    # the key check) meet the faults below
    client = redis.Redis.from_url(stand.redis.url)
    for key_id in client.smembers("tsapi:keys"):
        client.delete(f"tsapi:key:{key_id.decode()}")
    client.delete("tsapi:keys")
    client.close()
    time.sleep(KEYS_CHECK_SECONDS + 0.1)


def test_every_route_answers_503_fast_when_redis_refuses_connections(stand: Stand) -> None:
    stand.redis.stop()
    try:
        answers = _walk(stand)
        _check_outage(stand, "refused", answers)
        later = _walk(stand)  # Redis known down: no waiting at all
        assert max(a.seconds for a in later) < FAST
    finally:
        stand.redis.start()
    _wait_recovery(stand, "refused")


def test_every_route_answers_within_10_s_when_redis_is_frozen(stand: Stand) -> None:
    os.kill(stand.redis_pid, signal.SIGSTOP)
    try:
        answers = _walk(stand)
        _check_outage(stand, "frozen", answers)
        first = answers[0] if answers[0].call.operation not in WITHOUT_REDIS else answers[1]
        assert sum(a.seconds > FAST for a in answers) <= 2, "only the first waits for Redis"
        stand.figures["frozen"]["first_seconds"] = round(first.seconds, 3)
    finally:
        os.kill(stand.redis_pid, signal.SIGCONT)
    _wait_recovery(stand, "frozen")


def _points_body(n: int, start: int = 0) -> bytes:
    return orjson.dumps({"key": "big", "t": list(range(start, start + n)), "v": [1.0] * n})


def test_a_streamed_read_cut_by_redis_ends_with_an_error_record(stand: Stand) -> None:
    with httpx.Client(base_url=stand.base, timeout=60) as http:
        http.post("/v1/series", json={"key": "big"})
        for start in range(0, 1_000_000, 250_000):
            written = http.post(
                "/v1/points",
                content=_points_body(250_000, start),
                headers={"Content-Type": "application/json"},
            )
            assert written.status_code == 200, written.text
        for fmt in ("json", "csv"):
            with http.stream("GET", "/v1/series/big/points", params={"format": fmt}) as stream:
                assert stream.status_code == 200
                chunks = stream.iter_bytes()
                body = next(chunks)
                stand.redis.kill()
                body += b"".join(chunks)
            stand.redis.start()
            _wait_recovery(stand, f"cut-stream-{fmt}")
            if fmt == "json":
                document = json.loads(body)
                assert document["error"]["status"] in (503, 504)
                assert len(document["points"]) < 1_000_000
            else:
                last = body.rstrip(b"\n").rsplit(b"\n", 1)[-1]
                assert last.startswith(b"#error "), last[:100]
                assert json.loads(last[len(b"#error ") :])["status"] in (503, 504)
    # the Python client raises instead of returning a part as if it were whole
    with Client(stand.base, retries=0) as client:
        outcomes = []
        for delay in (0.3, 0.6, 0.15, 0.9, 0.05):  # until a kill lands during a read
            kill_soon = threading.Timer(delay, stand.redis.kill)
            kill_soon.start()
            try:
                client.range("big")
                outcomes.append("whole")  # the read finished before the kill
            except StreamInterrupted as exc:
                assert exc.status in (503, 504)
                outcomes.append("interrupted")
            except Unavailable:
                outcomes.append("refused")  # the kill came before the answer started
            finally:
                kill_soon.join()
                stand.redis.start()
                _wait_recovery(stand, "cut-stream-client")
            if outcomes[-1] == "interrupted":
                break
        assert outcomes[-1] == "interrupted", outcomes


def test_a_bulk_write_cut_by_redis_says_how_far_it_got(stand: Stand) -> None:
    lines = 600_000
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"key,t,v\n"
        for start in range(0, lines, 20_000):
            if start == 200_000:
                sent.set()
                time.sleep(1.0)  # the kill lands here
            yield "".join(f"cut,{t},1\n" for t in range(start, start + 20_000)).encode()

    def killer() -> None:
        sent.wait(60)
        time.sleep(0.3)
        stand.redis.kill()

    thread = threading.Thread(target=killer)
    thread.start()
    with httpx.Client(base_url=stand.base, timeout=60) as http:
        response = http.post(
            "/v1/points?create=true", content=body(), headers={"Content-Type": "text/csv"}
        )
    thread.join()
    assert response.status_code in (503, 504), response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["written"] > 0
    assert problem["written"] + problem["unconfirmed"] <= problem["received"] <= lines
    stand.redis.start()
    _wait_recovery(stand, "cut-bulk")
    with httpx.Client(base_url=stand.base, timeout=60) as http:
        stored = http.get("/v1/series/cut").json()["total_samples"]
    assert problem["written"] <= stored <= problem["written"] + problem["unconfirmed"]
    stand.figures["cut-bulk"].update(
        {k: problem[k] for k in ("written", "unconfirmed", "received")} | {"stored": stored}
    )
