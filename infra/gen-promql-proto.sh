#!/usr/bin/env bash
# Regenerate promql/proto/remote_pb2.py (+ .pyi) from promql/proto/remote.proto with the
# protoc bundled in grpcio-tools (the `dev` extra). Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
"$PY" -m grpc_tools.protoc -I promql/proto --python_out=promql/proto --pyi_out=promql/proto \
  promql/proto/remote.proto
echo "regenerated promql/proto/remote_pb2.py"
