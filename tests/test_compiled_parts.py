"""The compiled parts (setup.py) are built: `make test` provisions gcc and Python's headers,
so pip compiles every one; a missing one means the install fell back to the slower numpy,
pyarrow and Python paths, whose tests then run alone."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["tsdb._speedups", "promql._wire", "promql._kernels"])
def test_every_compiled_part_is_built(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(
            f"{module} was not built ({exc}): install gcc and Python's headers "
            "(infra/provision.sh does), then `pip install -e .` again"
        )
