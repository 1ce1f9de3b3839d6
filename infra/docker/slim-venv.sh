#!/bin/sh
# Shrinks the image's venv: drops what only building or testing the packages needs (their test
# suites, C headers, pip and setuptools), then compiles the bytecode once, so processes start
# fast even on a read-only root filesystem. Run by infra/docker/Dockerfile.
set -eu
venv=${1:-/opt/tsapi}
site=$(echo "$venv"/lib/python3*/site-packages)
"$venv/bin/pip" uninstall --yes --quiet pip setuptools
find "$site" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
rm -rf "$site/pyarrow/include" "$site"/pyarrow/*.pxd "$site"/pyarrow/*.pyx "$site"/pyarrow/src
"$venv/bin/python" -m compileall -q -j 0 "$site" >/dev/null
