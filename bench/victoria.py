"""The peer: a VictoriaMetrics single-node server (Debian's ``victoria-metrics``) on loopback
with its storage in the bench's scratch folder."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import free_port

__all__ = ["PeerMissing", "Victoria", "running_victoria"]


class PeerMissing(RuntimeError):
    """``victoria-metrics`` is not installed."""


@dataclass(frozen=True)
class Victoria:
    """A running VictoriaMetrics."""

    url: str
    pid: int
    data_dir: Path

    def flush(self, http: httpx.Client) -> None:
        """Make everything imported so far searchable (``/internal/force_flush``)."""
        http.get(f"{self.url}/internal/force_flush").raise_for_status()

    def rss_bytes(self) -> int:
        """The server's resident memory."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def disk_bytes(self) -> int:
        """What its storage folder holds."""
        return sum(p.stat().st_size for p in self.data_dir.rglob("*") if p.is_file())

    def version(self) -> str:
        """``victoria-metrics -version``."""
        binary = shutil.which("victoria-metrics") or "victoria-metrics"
        done = subprocess.run([binary, "-version"], capture_output=True, text=True, check=False)
        return done.stdout.strip()


@contextmanager
def running_victoria(data_dir: Path, timeout: float = 30.0) -> Iterator[Victoria]:
    """VictoriaMetrics on a free loopback port, storage in ``data_dir``, stopped after."""
    binary = shutil.which("victoria-metrics")
    if binary is None:
        raise PeerMissing(
            "victoria-metrics is not installed: run `make provision` (it installs Debian's "
            "victoria-metrics package) or skip the peer rows with --skip-peer"
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={data_dir}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
            # its defaults refuse /api/v1/series beyond 30,000 matching series (even with
            # limit=100) and queries over 300,000: the fleet grows to 1 M
            "-search.maxSeries=5000000",
            "-search.maxUniqueTimeseries=5000000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("victoria-metrics did not answer /health in time")
            time.sleep(0.1)
        yield Victoria(url, process.pid, data_dir)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
