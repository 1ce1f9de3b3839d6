"""infra/k8s under ``podman kube play``: Redis (the StatefulSet's pod, its claim and the
Secret's password), the API Deployment's two replicas and the worker Deployment, reached as
a client inside the cluster would (pod addresses on their network). tests/containers/kube.py
says what is reshaped for podman and why; what podman cannot run at all is checked below."""

from __future__ import annotations

import copy
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.containers import kube
from tests.containers.conftest import (
    PREFIX,
    ROOT,
    Api,
    Images,
    container_logs,
    podman,
    wait_until,
)

pytestmark = [pytest.mark.containers, pytest.mark.slow]

K8S = ROOT / "infra" / "k8s"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Cluster:
    password: str
    left_out: list[str]
    apis: list[Api]


def address(container: str, network: str) -> str:
    """The container's (its pod's) address on ``network``."""
    fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return podman("inspect", "--format", fmt, container).strip()


def play(path: Path, docs: list[dict[str, object]], network: str) -> None:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    podman("kube", "play", "--network", network, str(path), timeout=300)


def logs(*containers: str) -> str:
    return "\n".join(f"--- {c}\n{container_logs(c, tail=30)}" for c in containers)


@pytest.fixture(scope="module")
def cluster(images: Images, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("kube")
    network = f"{PREFIX}-k8s-{secrets.token_hex(3)}"
    password = secrets.token_hex(16)
    docs, kustomization = kube.load(K8S)
    for doc in docs:
        if doc["kind"] == "Secret":  # the operator's step: a real password in secret.yaml
            doc["stringData"]["password"] = password
    substitutes = {
        "redis/redis-stack-server": images.redis,
        "tsapi-api": images.api,
        "tsapi-worker": images.worker,
    }
    created_secrets: list[str] = []
    played: list[Path] = []
    podman("network", "create", network)
    try:
        first, found_secrets, left_out = kube.for_podman(
            copy.deepcopy(docs), kustomization, substitutes, None
        )
        for secret in found_secrets:
            content = work / f"{secret['metadata']['name']}.json"
            content.write_text(json.dumps(kube.podman_secret(secret)))
            podman("secret", "create", secret["metadata"]["name"], str(content))
            created_secrets.append(secret["metadata"]["name"])
        redis_docs = [d for d in first if d["kind"] in ("Pod", "PersistentVolumeClaim")]
        played.append(work / "redis.yaml")
        play(played[-1], redis_docs, network)
        redis_address = address("redis-0-redis", network)

        rest, _, _ = kube.for_podman(copy.deepcopy(docs), kustomization, substitutes, redis_address)
        app_docs = [d for d in rest if d["kind"] in ("ConfigMap", "Deployment")]
        played.append(work / "app.yaml")
        play(played[-1], app_docs, network)

        worker = "tsapi-worker-pod-0-worker"

        def create_key() -> str | None:
            done = podman(
                "exec", worker, "tsapi", "keys", "create", "--name", "admin", "--scope", "admin",
                check=False,
            )  # fmt: skip
            return done.strip() or None

        token = wait_until(create_key, "`tsapi keys create` in a worker pod", within=120, every=2)
        found = Cluster(password, left_out, [])
        for replica in ("tsapi-api-pod-0-api", "tsapi-api-pod-1-api"):
            api = Api(f"http://{address(replica, network)}:5000", token)
            api.wait_ready(logs=lambda r=replica: logs(r, "redis-0-redis"))  # type: ignore[misc]
            found.apis.append(api)
        yield found
    finally:
        for path in reversed(played):
            podman("kube", "down", str(path), check=False, timeout=180)
        podman("volume", "rm", "--force", "data-redis-0", check=False)
        for name in created_secrets:
            podman("secret", "rm", name, check=False)
        podman("network", "rm", "--force", network, check=False)


def test_what_podman_cannot_run_is_only_cluster_machinery(cluster: Cluster) -> None:
    kinds = sorted(entry.split(" ", 1)[0] for entry in cluster.left_out)
    assert kinds == [
        "HorizontalPodAutoscaler",
        "Namespace",
        "PodDisruptionBudget",
        "Service",
        "Service",
    ], cluster.left_out


def test_redis_pod_asks_for_the_secrets_password_and_keeps_its_claim(cluster: Cluster) -> None:
    redis = "redis-0-redis"
    assert "NOAUTH" in podman("exec", redis, "redis-cli", "PING", check=False)
    auth = ["redis-cli", "-a", cluster.password, "--no-auth-warning"]
    assert "timeseries" in podman("exec", redis, *auth, "MODULE", "LIST")
    assert podman("exec", redis, *auth, "CONFIG", "GET", "appendonly").split() == [
        "appendonly",
        "yes",
    ]
    mounts = json.loads(podman("inspect", "--format", "{{json .Mounts}}", redis))
    assert any(m.get("Name") == "data-redis-0" and m["Destination"] == "/data" for m in mounts)


def test_api_pods_run_as_10001_on_a_read_only_root(cluster: Cluster) -> None:
    api = "tsapi-api-pod-0-api"
    assert podman("exec", api, "id", "-u").strip() == "10001"
    touch = subprocess.run(
        ["podman", "exec", api, "touch", "/home/tsapi/x"], capture_output=True, text=True
    )
    assert touch.returncode != 0 and "Read-only file system" in touch.stderr, touch


def test_points_written_to_one_replica_are_read_from_the_other(cluster: Cluster) -> None:
    one, other = cluster.apis
    created = one.call("POST", "/v1/series", json={"key": "temp:k8s", "labels": {"on": "k8s"}})
    assert created.status_code == 201, created.text
    points = [[1_700_000_000_000 + i * 1000, float(i % 97)] for i in range(1000)]
    written = one.call("POST", "/v1/series/temp:k8s/points", json=points)
    assert written.status_code == 200, written.text
    read = other.call("GET", "/v1/series/temp:k8s/points")
    assert read.status_code == 200
    assert read.json()["points"] == points


def test_a_worker_pod_renders_a_png(cluster: Cluster) -> None:
    api = cluster.apis[0]
    api.call("POST", "/v1/series", json={"key": "load:k8s"})
    api.call("POST", "/v1/series/load:k8s/points", json=[[i * 1000, i % 13] for i in range(500)])
    submitted = api.call(
        "POST",
        "/v1/jobs",
        json={"type": "plot", "params": {"keys": ["load:k8s"], "formats": ["png"]}},
    )
    assert submitted.status_code == 202, submitted.text
    job = api.wait_for_job(submitted.json()["id"])
    assert job["status"] == "finished", job
    png = api.call("GET", f"/v1/jobs/{job['id']}/files/plot.png")
    assert png.content.startswith(PNG_MAGIC)
