"""The compiled parts (C, Python's API only): :mod:`tsdb._speedups` (TS.MRANGE replies read,
TS.MADD arguments written), :mod:`promql._wire` (remote-write bodies walked) and
:mod:`promql._kernels` (rate, increase and delta). They are optional: where no C compiler is
at hand the install goes on without them and tsapi does the same work with numpy, pyarrow
and Python, more slowly (``COMPILED`` in ``tsdb.mrange_reply``, ``tsdb.resp``,
``promql.wire`` and ``promql.range_functions`` says which)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(name, [source], optional=True, extra_compile_args=["-O3"])
        for name, source in [
            ("tsdb._speedups", "tsdb/_speedups.c"),
            ("promql._wire", "promql/_wire.c"),
            ("promql._kernels", "promql/_kernels.c"),
        ]
    ]
)
