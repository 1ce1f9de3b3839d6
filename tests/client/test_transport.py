"""How the client talks HTTP: retries against real failures (a server that is not there, an API
whose Redis is down and answers 503, then comes back), and the headers it sends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tsapi_client import Client, ConnectionFailed, Unavailable

from tests.client.conftest import BIN, serve, stop
from tests.conftest import free_port
from tsdb.embedded import EmbeddedRedis


def test_an_unreachable_server_is_retried_then_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with Client(url, retries=3, backoff=0.05) as api, pytest.raises(ConnectionFailed) as caught:
        api.get_series("a")
    elapsed = time.monotonic() - started
    assert caught.value.attempts == 4
    assert str(caught.value) == f"cannot reach tsapi at {url}: connection refused (tried 4 times)"
    assert 0.05 + 0.1 + 0.2 <= elapsed < 5


def test_the_cli_says_the_server_is_unreachable_in_one_line_without_a_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [str(BIN / "tsapi"), "series", "list", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert (
        done.stderr == f"Error: cannot reach tsapi at {url}: connection refused (tried 4 times)\n"
    )
    assert done.stdout == ""


@pytest.fixture
def fragile(tmp_path: Path) -> Iterator[tuple[str, EmbeddedRedis]]:
    """An API with a Redis of its own, which the test may stop and start again."""
    redis = EmbeddedRedis(port=free_port(), data_dir=tmp_path / "redis", log_to_file=True)
    redis.start()
    process, url = serve(redis.url, tmp_path / "api.log")
    try:
        yield url, redis
    finally:
        stop(process)
        redis.stop()


def test_503_while_redis_is_down_is_retried_until_it_is_back(
    fragile: tuple[str, EmbeddedRedis],
) -> None:
    url, redis = fragile
    with Client(url, timeout=5) as api:
        api.create_series("kept", {"a": "b"})
    redis.stop()

    with Client(url, retries=0) as api, pytest.raises(Unavailable) as caught:
        api.get_series("kept")
    assert caught.value.status == 503
    assert caught.value.type.endswith(":store-unavailable")

    restart = threading.Timer(1.2, redis.start)
    restart.start()
    started = time.monotonic()
    try:
        with Client(url, retries=8, backoff=0.2, timeout=5) as api:
            assert api.get_series("kept").labels == {"a": "b"}
    finally:
        restart.join()
    assert time.monotonic() - started >= 1.0  # it did wait for Redis


def test_the_client_module_imports_without_the_server_packages() -> None:
    code = (
        "import sys; import tsapi_client, tsapi_client.cli; "
        "bad = [m for m in ('api', 'tsdb', 'workers', 'quart', 'redis') if m in sys.modules]; "
        "print(bad)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET like /readyz does, and remembers the request headers."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        body = json.dumps({"status": "ready", "timeseries_version": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_api_key_goes_as_a_bearer_token_given_or_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with Client(url, "k1") as api:
            assert api.health().timeseries_version == 1
        monkeypatch.setenv("TSAPI_URL", url)
        monkeypatch.setenv("TSAPI_API_KEY", "k2")
        with Client() as api:
            api.health()
        monkeypatch.delenv("TSAPI_API_KEY")
        with Client() as api:
            api.health()
    finally:
        server.shutdown()
        server.server_close()
    sent = [h.get("Authorization") for h in _Recorder.seen]
    assert sent == ["Bearer k1", "Bearer k2", None]
    assert _Recorder.seen[0]["User-Agent"].startswith("tsapi-client/")
