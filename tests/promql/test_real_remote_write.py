"""A real Prometheus scrapes itself and remote-writes to a capturing HTTP server: its bodies
decode, with the scraped series, their labels and sane samples."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest

from promql.remote_write import decode_write_request
from tests.conftest import free_port
from tests.promql.conftest import prometheus_binary, scraping_prometheus


class _Capture(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.bodies.append((dict(self.headers), self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
def test_bodies_sent_by_prometheus_decode(tmp_path: Path) -> None:
    prometheus_binary()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = free_port()
    write_url = f"http://127.0.0.1:{receiver.server_address[1]}/api/v1/write"
    try:
        with scraping_prometheus(
            tmp_path, "self", f"127.0.0.1:{port}", write_url, 500, port
        ) as process:
            deadline = time.monotonic() + 60
            while not _Capture.bodies and time.monotonic() < deadline:
                assert process.poll() is None, "prometheus exited"
                time.sleep(0.2)
    finally:
        receiver.shutdown()
    assert _Capture.bodies, "prometheus sent nothing in 60 s"
    headers, _ = _Capture.bodies[0]
    assert headers.get("Content-Encoding") == "snappy"
    assert headers.get("X-Prometheus-Remote-Write-Version", "").startswith("0.1")
    batches = [decode_write_request(b) for _, b in _Capture.bodies]
    names = {labels["__name__"] for batch in batches for labels in batch.labels}
    assert "up" in names and "prometheus_build_info" in names
    for batch in batches:
        for labels, t, _v in batch.series():
            assert labels["job"] == "self" and labels["instance"] == f"127.0.0.1:{port}"
            assert (t > 1_600_000_000_000).all()
