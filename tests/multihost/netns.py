"""Separate hosts on this machine: network namespaces joined by veth pairs to a bridge.

The bridge lives in a namespace of its own, so nothing is added to the machine's own
network: hosts reach each other (10.77.0.0/24) and nothing else. Everything is removed by
:meth:`Network.close`, processes first.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

SUBNET = "10.77.0"


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be created here (not root, no iproute2, no permission)."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    """One namespace with one address; processes run in it with ``ip netns exec``."""

    name: str
    address: str
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(
        self, args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion on this host."""
        return subprocess.run(
            self.command(args), env=env, capture_output=True, text=True, timeout=timeout
        )

    def start(self, label: str, args: Sequence[str], env: Mapping[str, str]) -> Path:
        """Start a long-running process on this host; returns its log file."""
        log = self.logs / f"{self.name}-{label}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                self.command(args), env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return log

    def http(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One HTTP request from this host (curl); returns the status and the body."""
        args = ["curl", "-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}", url]
        for name, value in (headers or {}).items():
            args += ["-H", f"{name}: {value}"]
        if json is not None:
            data = orjson.dumps(json)
            args += ["-H", "Content-Type: application/json"]
        if data is not None:
            args += ["--data-binary", "@-"]
        done = subprocess.run(self.command(args), input=data, capture_output=True, timeout=30)
        if done.returncode != 0:
            return 0, done.stderr
        body, _, status = done.stdout.rpartition(b"\n")
        return int(status), body

    def stop(self) -> None:
        """Stop what was started here (SIGTERM, then SIGKILL), and anything left inside."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        left = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True, timeout=10
        )
        for pid in left.stdout.split():
            # children of what we started (e.g. redis-server under `tsapi redis`)
            os.kill(int(pid), signal.SIGKILL)


class Network:
    """A bridge and hosts on it, each in its own namespace."""

    def __init__(self, logs: Path) -> None:
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root")
        if shutil.which("ip") is None or shutil.which("curl") is None:
            raise NetnsUnavailable("iproute2 (ip) and curl are needed")
        self.logs = logs
        self.tag = secrets.token_hex(3)
        self.switch = f"tsapi-{self.tag}-sw"
        self.hosts: list[Host] = []
        self._namespaces: list[str] = []
        try:
            _ip("netns", "add", self.switch)
        except RuntimeError as exc:
            raise NetnsUnavailable(f"cannot create a network namespace: {exc}") from None
        self._namespaces.append(self.switch)
        try:
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
        except RuntimeError:
            self.close()
            raise

    def add_host(self, role: str) -> Host:
        """A new namespace with the next address, cabled to the bridge."""
        number = len(self.hosts) + 1
        name = f"tsapi-{self.tag}-{role}"
        inner, outer = f"ts{self.tag}h{number}", f"ts{self.tag}b{number}"
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ip("link", "add", inner, "netns", name, "type", "veth", "peer", "name", outer, "netns",
            self.switch)  # fmt: skip
        _ip("-n", name, "link", "set", inner, "name", "eth0")
        _ip("-n", name, "addr", "add", f"{SUBNET}.{number}/24", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "set", outer, "master", "br0")
        _ip("-n", self.switch, "link", "set", outer, "up")
        host = Host(name, f"{SUBNET}.{number}", self.logs)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        """Stop every process, then delete the namespaces (and with them the cables)."""
        for host in self.hosts:
            host.stop()
        for name in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self._namespaces.clear()


def wait_until(check: Any, what: str, within: float = 30, every: float = 0.1) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(every)
