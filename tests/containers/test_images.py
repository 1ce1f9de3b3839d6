"""The two images of infra/docker/Dockerfile, as `make images` built them."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.containers.conftest import Images, podman

pytestmark = pytest.mark.containers

#: Sizes the images must stay within (as podman reports them, on the base image used).
API_MAX_BYTES = 700_000_000
WORKER_MAX_BYTES = 1_300_000_000
#: Distributions of the test and dev extras (setup.cfg) that must not reach an image.
NOT_SHIPPED = {"pytest", "hypothesis", "schemathesis", "ruff", "mypy", "podman-compose", "pip"}


def run(image: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "run", "--rm", image, *args], capture_output=True, text=True, timeout=120
    )


def size(image: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image))


def test_images_stay_small(images: Images) -> None:
    assert size(images.api) <= API_MAX_BYTES, f"{images.api}: {size(images.api) / 1e6:.0f} MB"
    assert size(images.worker) <= WORKER_MAX_BYTES, (
        f"{images.worker}: {size(images.worker) / 1e6:.0f} MB"
    )


@pytest.mark.parametrize("role", ["api", "worker"])
def test_tsapi_runs_as_a_non_root_user(images: Images, role: str) -> None:
    image = getattr(images, role)
    version = run(image, "tsapi", "--version")
    assert version.returncode == 0 and version.stdout.startswith("tsapi, version"), version
    assert run(image, "id", "-u").stdout.strip() == "10001"


@pytest.mark.parametrize("role", ["api", "worker"])
def test_no_test_or_dev_dependency_is_inside(images: Images, role: str) -> None:
    listing = run(
        getattr(images, role),
        "python",
        "-c",
        "import json, importlib.metadata as m;"
        "print(json.dumps([d.metadata['Name'].lower() for d in m.distributions()]))",
    )
    assert listing.returncode == 0, listing.stderr
    assert not NOT_SHIPPED & set(json.loads(listing.stdout))


@pytest.mark.parametrize("role", ["api", "worker"])
def test_the_compiled_parts_are_built_and_no_compiler_is_left(images: Images, role: str) -> None:
    """The build stage compiled setup.py's modules; gcc stayed behind in it."""
    image = getattr(images, role)
    compiled = run(
        image,
        "python",
        "-c",
        "from tsdb import mrange_reply, resp; from promql import range_functions, wire;"
        "print(mrange_reply.COMPILED, resp.COMPILED, wire.COMPILED, range_functions.COMPILED)",
    )
    assert compiled.stdout.split() == ["True"] * 4, compiled
    assert run(image, "sh", "-c", "command -v gcc cc").returncode != 0


def test_the_api_image_has_no_browser_and_no_worker_numerics(images: Images) -> None:
    assert run(images.api, "sh", "-c", "command -v chromium").returncode != 0
    for module in ("scipy", "statsmodels", "pandas"):
        assert run(images.api, "python", "-c", f"import {module}").returncode != 0, module
    assert run(images.worker, "sh", "-c", "command -v chromium chromedriver").returncode == 0
    numerics = run(images.worker, "python", "-c", "import scipy, statsmodels, pandas")
    assert numerics.returncode == 0, numerics.stderr


def test_the_api_image_has_a_healthcheck_and_the_worker_none(images: Images) -> None:
    def healthcheck(image: str) -> list[str]:
        found = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}", image))
        return list((found or {}).get("Test") or [])

    assert "/healthz" in " ".join(healthcheck(images.api))
    assert healthcheck(images.worker) in ([], ["NONE"])
