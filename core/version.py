"""The version of tsapi, read from the installed distribution's metadata (setup.cfg)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["VERSION"]

try:
    VERSION = version("tsapi")
except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
    VERSION = "0+unknown"
