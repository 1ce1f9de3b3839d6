"""A client generated from ``/openapi.json`` by ``openapi-python-client`` (as any user would make
one) builds, and does the basic round trip: create a series, write points, read them back,
delete the series."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import LiveApi

pytestmark = pytest.mark.slow


def _generate(base: str, where: Path) -> Path:
    spec = where / "openapi.json"
    spec.write_bytes(httpx.get(f"{base}/openapi.json").content)
    tool = Path(sys.executable).with_name("openapi-python-client")
    config = where / "config.yaml"  # not tsapi_client: that is the project's own client
    config.write_text(
        "project_name_override: generated-tsapi\npackage_name_override: generated_tsapi\n"
    )
    done = subprocess.run(
        [
            *(str(tool), "generate", "--path", str(spec), "--config", str(config)),
            *("--output-path", str(where / "gen")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    packages = [p for p in (where / "gen").iterdir() if (p / "__init__.py").is_file()]
    assert len(packages) == 1, packages
    return packages[0]


def test_a_client_generated_from_the_document_creates_writes_reads_and_deletes(
    live_api: LiveApi, tmp_path: Path
) -> None:
    package = _generate(live_api.base, tmp_path)
    sys.path.insert(0, str(package.parent))
    try:
        name = package.name
        client_module = importlib.import_module(f"{name}.client")
        api = f"{name}.api"
        create = importlib.import_module(f"{api}.series.create_series")
        write = importlib.import_module(f"{api}.points.write_points")
        read = importlib.import_module(f"{api}.points.read_points")
        delete = importlib.import_module(f"{api}.series.delete_series")
        models = importlib.import_module(f"{name}.models")

        client = client_module.Client(base_url=live_api.base, raise_on_unexpected_status=True)
        made = create.sync_detailed(
            client=client, body=models.SeriesCreate(key="gen:client", labels=_labels(models))
        )
        assert made.status_code == 201, made.content
        assert made.parsed.key == "gen:client"

        points = [models.PointIn(t=1_000 * i, v=float(i)) for i in range(1, 6)]
        wrote = write.sync_detailed("gen:client", client=client, body=points)
        assert wrote.status_code == 200, wrote.content
        assert wrote.parsed.written == 5

        answer = read.sync_detailed("gen:client", client=client)
        assert answer.status_code == 200, answer.content
        assert [list(p) for p in answer.parsed.points] == [
            [1_000 * i, float(i)] for i in range(1, 6)
        ]

        gone = delete.sync_detailed("gen:client", client=client)
        assert gone.status_code == 204
        missing = read.sync_detailed("gen:client", client=client)
        assert missing.status_code == 404
    finally:
        sys.path.remove(str(package.parent))
        for module in [m for m in sys.modules if m.startswith(package.name)]:
            del sys.modules[module]
        shutil.rmtree(tmp_path / "gen", ignore_errors=True)


def _labels(models: object) -> object:
    labels = models.SeriesCreateLabels()  # type: ignore[attr-defined]
    labels["city"] = "austin"
    return labels
