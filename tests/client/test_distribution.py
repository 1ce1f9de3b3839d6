"""The client is a distribution of its own: installable alone, small, and in step with the
server's vocabulary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import StrEnum
from pathlib import Path

import pytest
import tsapi_client

from tsdb import models as server_models
from tsdb import transforms as server_transforms
from workers import models as job_models

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "server_enum",
    [
        server_models.Aggregation,
        server_models.Reducer,
        server_models.DuplicatePolicy,
        server_models.Encoding,
        server_models.BucketTimestamp,
        server_transforms.FillPolicy,
        server_transforms.Function,
        job_models.JobStatus,
    ],
)
def test_client_enums_equal_the_servers(server_enum: type[StrEnum]) -> None:
    client_enum = getattr(tsapi_client, server_enum.__name__)
    assert [(m.name, m.value) for m in client_enum] == [(m.name, m.value) for m in server_enum]


def _site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _installed(python: Path) -> set[str]:
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"].lower() for p in json.loads(listed)}


@pytest.mark.slow
def test_the_client_installs_alone_small_and_imports(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    before, size_before = _installed(python), _size(_site_packages(venv))
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT / "client")],
        check=True,
        env=env,
        timeout=600,
    )
    added = _installed(python) - before
    grown = _size(_site_packages(venv)) - size_before
    assert "tsapi-client" in added
    assert len(added) <= 12, sorted(added)
    assert grown <= 25 * 1024 * 1024, grown
    code = (
        "import sys, tsapi_client; "
        "c = tsapi_client.Client('http://127.0.0.1:1'); c.close(); "
        "print([m for m in ('tsdb', 'api', 'workers', 'core', 'redis') if m in sys.modules])"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    print(f"client install: {len(added)} packages, {grown / 1e6:.1f} MB: {sorted(added)}")
