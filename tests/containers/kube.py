"""What ``podman kube play`` (podman 4.3) needs done to infra/k8s before it can run it.

The manifests stay as real Kubernetes users get them; this turns them, in the test only,
into what podman can play, doing by hand what a cluster would do:

- ``StatefulSet`` redis -> a ``Pod`` named ``redis-0`` and a ``PersistentVolumeClaim``
  ``data-redis-0`` from its ``volumeClaimTemplates`` (kube play has no StatefulSet);
- ``Secret`` -> returned apart, to become a podman secret holding its data as a JSON map of
  base64 values: the only form 4.3's ``secretKeyRef`` reads (the Secret kind it plays itself
  is not readable by ``secretKeyRef``);
- ``$(VAR)`` in ``env`` values expanded from the container's earlier variables and the
  Secret, as the kubelet does (podman passes them through literally);
- container ``ports`` dropped (probes get the port number instead of its name): podman 4.3
  publishes a containerPort without hostPort on every address of the host, which would
  expose Redis and the API and make the two API replicas collide on port 5000;
- the Deployments get ``hostAliases`` for ``redis-0.redis`` (what the headless Service's DNS
  gives in a cluster; podman's DNS answers pod names, not ``<pod>.<service>``);
- images replaced as ``kustomization.yaml``'s ``images:`` would (``images`` argument);
- ``Namespace``, ``Service``, ``PodDisruptionBudget`` and ``HorizontalPodAutoscaler`` left
  out: podman has no namespaces, cluster DNS/virtual IPs, evictions or autoscaling.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import yaml

#: Kinds kube play cannot run, and why (the test reports them).
UNSUPPORTED = {
    "Namespace": "podman has no namespaces",
    "Service": "no cluster DNS or virtual IPs; pods are reached by pod name or address",
    "PodDisruptionBudget": "nothing evicts pods under podman",
    "HorizontalPodAutoscaler": "no metrics-server or autoscaler",
}
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def load(k8s_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every document of the manifests kustomization.yaml lists, and the kustomization."""
    kustomization = yaml.safe_load((k8s_dir / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((k8s_dir / name).read_text()) if d]
    return docs, kustomization


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    """A Secret's values, decoded."""
    values = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    values.update(secret.get("stringData", {}))
    return values


def podman_secret(secret: dict[str, Any]) -> dict[str, str]:
    """The content of the podman secret that 4.3's ``secretKeyRef`` reads."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in secret_data(secret).items()}


def _expand_env(container: dict[str, Any], secrets: dict[str, dict[str, str]]) -> None:
    known: dict[str, str] = {}
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            known[var["name"]] = secrets[ref["name"]][ref["key"]]
        elif "value" in var:
            var["value"] = _REFERENCE.sub(lambda m: known.get(m[1], m[0]), str(var["value"]))
            known[var["name"]] = var["value"]


def _image(image: str, mapping: dict[str, str]) -> str:
    name = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return mapping.get(name, image)


def for_podman(
    docs: list[dict[str, Any]],
    kustomization: dict[str, Any],
    images: dict[str, str],
    redis_address: str | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """``(playable documents, Secrets, what was left out)``.

    ``images``: image name -> image to run instead (after kustomization's own ``images:``).
    ``redis_address``: the redis-0 pod's address for the other pods' ``hostAliases`` (None
    while Redis itself is being played).
    """
    mapping = {
        i["name"]: f"{i.get('newName', i['name'])}:{i['newTag']}"
        for i in kustomization.get("images", [])
    }
    mapping.update(images)
    secrets = [d for d in docs if d["kind"] == "Secret"]
    values = {s["metadata"]["name"]: secret_data(s) for s in secrets}
    playable: list[dict[str, Any]] = []
    left_out = []
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in UNSUPPORTED:
            left_out.append(f"{kind} {name}: {UNSUPPORTED[kind]}")
            continue
        if kind == "Secret":
            continue
        if kind == "StatefulSet":
            playable += _statefulset_pod(doc)
            continue
        if kind == "Deployment" and redis_address:
            doc["spec"]["template"]["spec"]["hostAliases"] = [
                {"ip": redis_address, "hostnames": ["redis-0.redis"]}
            ]
        playable.append(doc)
    for doc in playable:
        spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc.get("spec")
        for container in (spec or {}).get("containers", []):
            container["image"] = _image(container["image"], mapping)
            _expand_env(container, values)
            _unpublish(container)
    return playable, secrets, left_out


def _unpublish(container: dict[str, Any]) -> None:
    numbers = {p.get("name"): p["containerPort"] for p in container.pop("ports", [])}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        action = container.get(probe, {}).get("httpGet") or container.get(probe, {}).get(
            "tcpSocket"
        )
        if action and action["port"] in numbers:
            action["port"] = numbers[action["port"]]


def _statefulset_pod(statefulset: dict[str, Any]) -> list[dict[str, Any]]:
    """Pod ``<name>-0`` of a one-replica StatefulSet, with the PVCs of its claim templates."""
    name = statefulset["metadata"]["name"]
    template = statefulset["spec"]["template"]
    pod_name = f"{name}-0"
    claims = []
    volumes = list(template["spec"].get("volumes", []))
    for claim in statefulset["spec"].get("volumeClaimTemplates", []):
        claim_name = f"{claim['metadata']['name']}-{pod_name}"
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {**claim["metadata"], "name": claim_name},
                "spec": claim["spec"],
            }
        )
        volumes.append(
            {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}}
        )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": pod_name},
        "spec": {**template["spec"], "hostname": pod_name, "volumes": volumes},
    }
    return [*claims, pod]
