"""The container deployments of infra/, run for real with podman: the images that
``infra/images/build.sh`` (``make images``) built, Redis Stack, the API and workers, driven
through the ``tsapi`` command inside the containers and HTTP from this machine.

Tests skip, saying why, on a machine without podman or without the images; under CI (which
runs ``make images`` first) they fail instead. Everything they start is removed afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import skip_or_fail_in_ci

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "infra" / "compose"
IMAGES_ENV = ROOT / "build" / "images.env"
PODMAN_COMPOSE = Path(sys.executable).parent / "podman-compose"
#: Every podman object the tests create carries this label or name prefix.
PREFIX = "tsapi-ct"


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run ``podman ARGS``; its stdout (fail on a non-zero exit when ``check``)."""
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def wait_until(check: Any, what: str, within: float = 120, every: float = 1.0) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(every)


def container_logs(name: str, tail: int | None = None) -> str:
    """What a container wrote, stdout and stderr."""
    args = ["podman", "logs", *(["--tail", str(tail)] if tail else []), name]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr


@dataclass(frozen=True)
class Images:
    """The images ``make images`` built (or the stand-ins it built for the base images)."""

    python: str
    redis: str
    api: str
    worker: str

    def env(self) -> dict[str, str]:
        """The variables the compose files take their images from."""
        return {"REDIS_IMAGE": self.redis, "API_IMAGE": self.api, "WORKER_IMAGE": self.worker}


@pytest.fixture(scope="session")
def images() -> Images:
    if shutil.which("podman") is None:
        skip_or_fail_in_ci("podman is not installed (infra/provision.sh installs it)")
    if not IMAGES_ENV.is_file():
        skip_or_fail_in_ci(
            f"no {IMAGES_ENV.relative_to(ROOT)}: build the images with `make images`"
        )
    values = dict(line.split("=", 1) for line in IMAGES_ENV.read_text().splitlines() if "=" in line)
    found = Images(
        values["PYTHON_IMAGE"], values["REDIS_IMAGE"], values["API_IMAGE"], values["WORKER_IMAGE"]
    )
    for image in (found.redis, found.api, found.worker):
        if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
            skip_or_fail_in_ci(f"image {image} is missing: build the images with `make images`")
    return found


class Api:
    """HTTP to an API (published on this machine's loopback, or a pod's address), with a key."""

    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url
        self.token = token
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return self.http.request(method, path, headers=headers, **kwargs)

    def ready(self) -> bool:
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, within: float = 180, logs: Any = None) -> None:
        try:
            wait_until(self.ready, f"{self.base_url}/readyz", within=within)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs() if logs else ''}") from None

    def wait_for_job(self, job_id: str, within: float = 180) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            answer = self.call("GET", f"/v1/jobs/{job_id}")
            assert answer.status_code == 200, answer.text
            document: dict[str, Any] = answer.json()
            return document if document["status"] in ("finished", "failed", "canceled") else None

        result: dict[str, Any] = wait_until(ended, f"job {job_id} to end", within=within)
        return result

    def close(self) -> None:
        self.http.close()


@dataclass
class Compose:
    """One compose project (``podman-compose -p NAME -f FILE``) with its variables."""

    file: Path
    project: str
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        if not PODMAN_COMPOSE.exists():
            skip_or_fail_in_ci(f"{PODMAN_COMPOSE} is missing: pip install -e '.[test]'")
        command = [str(PODMAN_COMPOSE), "-p", self.project, "-f", str(self.file), *args]
        done = subprocess.run(
            command,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman-compose {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def containers(self, service: str | None = None, running: bool = True) -> list[str]:
        """Names of the project's containers (of one service), running ones by default."""
        args = [
            "ps",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=io.podman.compose.project={self.project}",
        ]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if not running:
            args.append("--all")
        return sorted(podman(*args).split())

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{container_logs(name, tail=30)}"
            for name in self.containers(running=False)
        )

    def down(self) -> None:
        self("down", "-v", "--remove-orphans", "-t", "5", timeout=300, check=False)
        for name in self.containers(running=False):  # what podman-compose could not remove
            podman("rm", "--force", "--depend", name, check=False)
        self("down", "-v", "-t", "5", timeout=300, check=False)


def project_name(role: str) -> str:
    return f"{PREFIX}-{role}-{secrets.token_hex(3)}"


def leftovers(project: str) -> dict[str, list[str]]:
    """Containers, pods, networks and volumes of a compose project that podman still has."""
    label = f"label=io.podman.compose.project={project}"
    return {
        "containers": podman("ps", "--all", "--format", "{{.Names}}", "--filter", label).split(),
        "pods": [p for p in podman("pod", "ls", "--format", "{{.Name}}").split() if project in p],
        "networks": [
            n
            for n in podman("network", "ls", "--format", "{{.Name}}").split()
            if n.startswith(f"{project}_")
        ],
        "volumes": podman("volume", "ls", "--format", "{{.Name}}", "--filter", label).split(),
    }
